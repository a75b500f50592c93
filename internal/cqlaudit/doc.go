// Package cqlaudit checks the CQL that the product sends to the database
// during the integration tests, for tests only: a Recorder, installed on
// every session the stores open (seams.SetCQLObserver, see Main), records
// each statement and batch in normalised form (Normalize), and an Auditor
// reports what breaks the rules of docs/cql.md:
//
//   - a conditional statement (INSERT ... IF NOT EXISTS, UPDATE or
//     DELETE ... IF EXISTS or IF <condition>): a lightweight transaction,
//     which ScyllaDB refuses on keyspaces with tablets. CREATE ... IF NOT
//     EXISTS and other schema statements are not conditional writes;
//   - ALLOW FILTERING;
//   - a range read: a SELECT on a table of the keyspace whose WHERE does
//     not fix every column of the partition key with = or IN, or that
//     restricts token(...). Only the statement docs/cql.md marks as the
//     token-range lister (range=token) may read token ranges, and only
//     the one marked as the upgrade-only copy (range=upgrade, of an
//     UpgradeTables table) may read a whole table. Tables of the system
//     keyspaces (system, system_schema, ...) may be read at will;
//   - USING TIMEOUT in a batch (ScyllaDB refuses it), or ScyllaDB's
//     SELECT clauses out of their grammar's order;
//   - a statement that docs/cql.md does not list.
//
// The driver's own queries (system.local, system.peers and system_schema,
// read on its control connection for the topology and schema metadata)
// do not go through the observers: they are never recorded.
//
// # docs/cql.md
//
// Every statement is a fenced block whose info string starts with
// "cql stmt", holding the statement as Normalize renders it (whitespace
// is collapsed, so it may span lines). Attributes follow in the info
// string:
//
//	```cql stmt scylla=timeout range=token
//
// scylla=timeout: on ScyllaDB the statement ends with " USING TIMEOUT
// <timeout>"; scylla=bypass-cache: with " BYPASS CACHE USING TIMEOUT
// <timeout>". range=token marks the token-range lister, range=upgrade the
// upgrade-only full read; each may mark one statement only.
package cqlaudit
