package main

import (
	"fmt"
	"testing"
)

func TestProgressBarLines(t *testing.T) {
	count := func(n int64) string { return fmt.Sprint(n) }
	for _, c := range []struct {
		n, total int64
		want     string
	}{
		{0, 200, "write   [>                             ] 0 of 200 pins (0%)"},
		{100, 200, "write   [===============>              ] 100 of 200 pins (50%)"},
		{200, 200, "write   [==============================] 200 of 200 pins (100%)"},
		{250, 200, "write   [==============================] 200 of 200 pins (100%)"},
		{42, 0, "write   42 pins"},
	} {
		if got := barLine("write", c.n, c.total, count, "pins"); got != c.want {
			t.Errorf("barLine(%d of %d):\n got %q\nwant %q", c.n, c.total, got, c.want)
		}
	}
}
