package scyllastate

import (
	"fmt"
	"strings"

	"github.com/gocql/gocql"
)

// Consistency is a consistency level of the database, as the settings
// consistency, event_consistency and serial_consistency name it. Its text
// form is the level's CQL name (ONE, LOCAL_QUORUM, ...), read without
// regard to case. The zero Consistency is no level (an unset setting).
type Consistency uint8

// The consistency levels.
const (
	ConsistencyAny Consistency = iota + 1
	ConsistencyOne
	ConsistencyTwo
	ConsistencyThree
	ConsistencyQuorum
	ConsistencyAll
	ConsistencyLocalQuorum
	ConsistencyEachQuorum
	ConsistencyLocalOne
	ConsistencySerial
	ConsistencyLocalSerial
)

var consistencyLevels = [...]struct {
	name   string
	driver gocql.Consistency
}{
	ConsistencyAny:         {"ANY", gocql.Any},
	ConsistencyOne:         {"ONE", gocql.One},
	ConsistencyTwo:         {"TWO", gocql.Two},
	ConsistencyThree:       {"THREE", gocql.Three},
	ConsistencyQuorum:      {"QUORUM", gocql.Quorum},
	ConsistencyAll:         {"ALL", gocql.All},
	ConsistencyLocalQuorum: {"LOCAL_QUORUM", gocql.LocalQuorum},
	ConsistencyEachQuorum:  {"EACH_QUORUM", gocql.EachQuorum},
	ConsistencyLocalOne:    {"LOCAL_ONE", gocql.LocalOne},
	ConsistencySerial:      {"SERIAL", gocql.Serial},
	ConsistencyLocalSerial: {"LOCAL_SERIAL", gocql.LocalSerial},
}

// ParseConsistency reads a consistency level by name, without regard to
// case. The error lists the valid names.
func ParseConsistency(s string) (Consistency, error) {
	for c := ConsistencyAny; c <= ConsistencyLocalSerial; c++ {
		if strings.EqualFold(s, consistencyLevels[c].name) {
			return c, nil
		}
	}
	return 0, fmt.Errorf("%q is not a consistency level: use one of %s", s, strings.Join(levelNames(ConsistencyAny, ConsistencyLocalOne), ", "))
}

func levelNames(from, to Consistency) []string {
	var out []string
	for c := from; c <= to; c++ {
		out = append(out, consistencyLevels[c].name)
	}
	return out
}

// String is the level's CQL name; empty for the zero Consistency.
func (c Consistency) String() string {
	if c == 0 || int(c) >= len(consistencyLevels) {
		return ""
	}
	return consistencyLevels[c].name
}

// MarshalText renders the level's CQL name.
func (c Consistency) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText reads a level's name, without regard to case.
func (c *Consistency) UnmarshalText(b []byte) error {
	v, err := ParseConsistency(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// Local tells whether the level counts replicas in the coordinator's
// data center only (LOCAL_ONE, LOCAL_QUORUM, LOCAL_SERIAL).
func (c Consistency) Local() bool {
	return c == ConsistencyLocalOne || c == ConsistencyLocalQuorum || c == ConsistencyLocalSerial
}

// Serial tells whether the level is a serial one (SERIAL, LOCAL_SERIAL).
func (c Consistency) Serial() bool { return c == ConsistencySerial || c == ConsistencyLocalSerial }

func (c Consistency) driver() gocql.Consistency { return consistencyLevels[c].driver }
