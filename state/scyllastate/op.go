package scyllastate

import "fmt"

// Op is the kind of a pin change.
type Op int8

// Pin changes.
const (
	OpPin   Op = 1
	OpUnpin Op = 2
)

// String names the operation: "pin" or "unpin".
func (o Op) String() string {
	switch o {
	case OpPin:
		return "pin"
	case OpUnpin:
		return "unpin"
	}
	return fmt.Sprintf("op(%d)", int8(o))
}
