package service

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestCheckImportNamesTheLineOfTheFirstBadPin(t *testing.T) {
	good := `{"cid":"bafkreigwsbjrjd7q4dg7eigomlgkyt7wrwhvgfflfesaywffcbtzmuyhjm","type":"pin","max_depth":-1}`
	for _, tc := range []struct {
		name, in string
		pins     int
		line     int
	}{
		{"valid", good + "\n" + good + "\n", 2, 0},
		{"empty", "", 0, 0},
		{"multi-line objects", "{\n  \"cid\": \"bafkreigwsbjrjd7q4dg7eigomlgkyt7wrwhvgfflfesaywffcbtzmuyhjm\"\n}\n", 1, 0},
		{"bad json at line 3", good + "\n" + good + "\n{\"cid\": \n", 2, 3},
		{"bad cid at line 2", good + "\n" + `{"cid":"not-a-cid"}` + "\n" + good + "\n", 1, 2},
		{"no cid at line 4", good + "\n" + good + "\n" + good + "\n{\"name\":\"x\"}\n", 4, 4},
		{"wrong type at line 1", `{"cid": 5}`, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := CheckImport(strings.NewReader(tc.in))
			if tc.line == 0 {
				if err != nil || n != tc.pins {
					t.Fatalf("CheckImport = %d, %v; want %d pins", n, err, tc.pins)
				}
				return
			}
			if !errors.Is(err, ErrBadImport) {
				t.Fatalf("want ErrBadImport, got %v", err)
			}
			if want := "line " + itoa(tc.line) + " "; !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not name %q", err, want)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
