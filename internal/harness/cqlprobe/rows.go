package cqlprobe

import (
	"encoding/hex"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/gocql/gocql"
)

// printRows writes every row of it (all pages): one line per row, the
// columns separated by " | ".
func printRows(it *gocql.Iter, out io.Writer) error {
	rd, err := it.RowData()
	if err != nil {
		return err
	}
	if len(rd.Values) == 0 {
		return nil // no result set (DDL, INSERT, ...)
	}
	// Scan into pointers to pointers, so that a null is told from a zero.
	dest := make([]any, len(rd.Values))
	for i, v := range rd.Values {
		dest[i] = reflect.New(reflect.TypeOf(v)).Interface()
	}
	cols := make([]string, len(dest))
	for it.Scan(dest...) {
		for i, d := range dest {
			cols[i] = formatValue(reflect.ValueOf(d).Elem().Interface())
		}
		if _, err := fmt.Fprintln(out, strings.Join(cols, " | ")); err != nil {
			return err
		}
	}
	return nil
}

// formatValue renders a scanned value: v is a pointer (nil for null).
func formatValue(v any) string {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || (rv.Kind() == reflect.Pointer && rv.IsNil()) {
		return "null"
	}
	if rv.Kind() == reflect.Pointer {
		v = rv.Elem().Interface()
	}
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return "0x" + hex.EncodeToString(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case fmt.Stringer:
		return x.String()
	default:
		return fmt.Sprint(x)
	}
}
