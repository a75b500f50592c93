package scyllacheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/state/scyllastate/diag"
)

func TestVerdict(t *testing.T) {
	f := func(st Status) Finding {
		return Finding{Section: SectionHosts, Check: "reach", Status: st, Message: "m", Hint: "h"}
	}
	cases := []struct {
		findings     []Finding
		verdict      Status
		line         string
		exit, strict int
	}{
		{[]Finding{f(OK), f(Info), f(Skip)}, OK, "scylla check: OK", 0, 0},
		{[]Finding{f(OK), f(Warn), f(Warn)}, Warn, "scylla check: WARN (2 warnings)", 0, 2},
		{[]Finding{f(Fail), f(Warn)}, Fail, "scylla check: FAIL (1 failure, 1 warning)", 1, 1},
		{[]Finding{f(Fail), f(Fail)}, Fail, "scylla check: FAIL (2 failures)", 1, 1},
	}
	for _, c := range cases {
		r := NewReport("pins", []string{"h"}, now, c.findings)
		if r.Verdict != c.verdict || r.VerdictLine() != c.line {
			t.Errorf("verdict %s %q, want %s %q", r.Verdict, r.VerdictLine(), c.verdict, c.line)
		}
		if got := r.ExitCode(false); got != c.exit {
			t.Errorf("%s: exit %d, want %d", c.line, got, c.exit)
		}
		if got := r.ExitCode(true); got != c.strict {
			t.Errorf("%s --strict: exit %d, want %d", c.line, got, c.strict)
		}
	}
}

func TestWriteText(t *testing.T) {
	r := NewReport("pins", []string{"10.0.0.1", "10.0.0.2"}, now, []Finding{
		{Section: SectionFeed, Check: "newest_event", Status: Info, Message: "no change"},
		{Section: SectionHosts, Check: "reach", Subject: "10.0.0.1", Status: OK, Message: "TCP ok", Hint: "not shown"},
		{Section: SectionHosts, Check: "reach", Subject: "10.0.0.2", Status: Fail, Message: "refused", Hint: "start it"},
	})
	var plain bytes.Buffer
	if err := r.WriteText(&plain, false); err != nil {
		t.Fatal(err)
	}
	out := plain.String()
	if strings.Contains(out, "\x1b[") {
		t.Errorf("colour codes without a terminal:\n%s", out)
	}
	for _, want := range []string{
		"scylla check of keyspace pins on 10.0.0.1, 10.0.0.2 at 2025-06-01T12:00:00Z\n",
		"\nHosts\n  OK    10.0.0.1  TCP ok\n  FAIL  10.0.0.2  refused\n        hint: start it\n",
		"\nChange feed\n  INFO  no change\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "not shown") {
		t.Errorf("the hint of an OK finding is shown:\n%s", out)
	}
	if !strings.HasSuffix(out, "\nscylla check: FAIL (1 failure)\n") {
		t.Errorf("the report does not end with the verdict:\n%s", out)
	}
	if strings.Index(out, "Hosts") > strings.Index(out, "Change feed") {
		t.Errorf("sections out of order:\n%s", out)
	}
	var coloured bytes.Buffer
	_ = r.WriteText(&coloured, true)
	if !strings.Contains(coloured.String(), "\x1b[31mFAIL\x1b[0m") {
		t.Errorf("no colour on a terminal:\n%q", coloured.String())
	}
}

// TestJSONFieldNames pins the documented field names of --json.
func TestJSONFieldNames(t *testing.T) {
	f := healthy()
	f.Config.Username, f.Config.Password = "cassandra", "hunter2"
	f.Hosts[0].Login, f.Hosts[0].LoginAsked = true, true
	f.Hosts = append(f.Hosts, diag.HostReport{Host: "10.0.0.9", DialErr: errors.New("refused")})
	r := NewReport("pins", f.Config.Hosts, f.Time, Analyze(f))
	r.Facts = f.JSON()
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "hunter2") {
		t.Fatalf("the JSON report shows the password:\n%s", buf.String())
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	keys := func(v any) string {
		m, _ := v.(map[string]any)
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return strings.Join(ks, ",")
	}
	facts := doc["facts"].(map[string]any)
	first := func(v any) any { return v.([]any)[0] }
	for name, c := range map[string]struct {
		got, want string
	}{
		"report":   {keys(doc), "checked_at,facts,failures,findings,hosts,keyspace,verdict,warnings"},
		"finding":  {keys(first(doc["findings"])), "check,message,section,status,subject"},
		"facts":    {keys(facts), "feed,hosts,keyspace,nodes,reads,schema,server"},
		"server":   {keys(facts["server"]), "driver_shard_aware,kind,version"},
		"host":     {keys(first(facts["hosts"])), "address,clock_skew_ms,data_center,host,login,rack,reachable,release_version,tcp_ms,username"},
		"bad host": {keys(facts["hosts"].([]any)[1]), "error,host,reachable"},
		"node":     {keys(first(facts["nodes"])), "address,data_center,host_id,rack,release_version,schema_version"},
		"keyspace": {keys(facts["keyspace"]), "class,durable_writes,exists,name,replication"},
		"schema":   {keys(facts["schema"]), "build_min_compatible,build_version,event_retention_seconds,found,min_compatible,pins_gc_grace_seconds,version"},
		"reads":    {keys(facts["reads"]), "consistency,count,max_ms,p50_ms"},
		"feed":     {keys(facts["feed"]), "alive_within_seconds,layout,newest_event,partitions_per_minute,peers,window_seconds"},
		"layout":   {keys(first(facts["feed"].(map[string]any)["layout"])), "from,partitions"},
		"peer":     {keys(first(facts["feed"].(map[string]any)["peers"])), "alive,behind_seconds,closed,heartbeat,heartbeat_age_seconds,id,position,safe_before,self,stale"},
	} {
		if c.got != c.want {
			t.Errorf("%s fields:\n got  %s\n want %s", name, c.got, c.want)
		}
	}
	if doc["verdict"] != "FAIL" || doc["failures"].(float64) != 1 {
		t.Errorf("verdict %v failures %v", doc["verdict"], doc["failures"])
	}
	peer := first(facts["feed"].(map[string]any)["peers"]).(map[string]any)
	if peer["behind_seconds"].(float64) != 70 || peer["alive"] != true || peer["self"] != true {
		t.Errorf("peer %v", peer)
	}
}

func TestPercentiles(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	p50, mx := percentiles([]time.Duration{ms(5), ms(1), ms(3), ms(9), ms(2)})
	if p50 != ms(3) || mx != ms(9) {
		t.Errorf("p50 %s max %s", p50, mx)
	}
	if p50, mx := percentiles(nil); p50 != 0 || mx != 0 {
		t.Errorf("empty: %s %s", p50, mx)
	}
}

func TestConfigFailureReport(t *testing.T) {
	r := ConfigFailure(now, errors.New("loading service.json: no such file"), "point --config at the peer's folder")
	if r.Verdict != Fail || r.ExitCode(false) != ExitFail {
		t.Fatalf("verdict %s exit %d", r.Verdict, r.ExitCode(false))
	}
	var text, js bytes.Buffer
	_ = r.WriteText(&text, false)
	want := "scylla check at 2025-06-01T12:00:00Z\n\nConfiguration\n  FAIL  loading service.json: no such file\n        hint: point --config at the peer's folder\n\nscylla check: FAIL (1 failure)\n"
	if text.String() != want {
		t.Errorf("text:\n%s\nwant:\n%s", text.String(), want)
	}
	_ = r.WriteJSON(&js)
	var doc map[string]any
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if hosts, ok := doc["hosts"].([]any); !ok || len(hosts) != 0 {
		t.Errorf("hosts %v, want []", doc["hosts"])
	}
	if _, ok := doc["facts"]; ok {
		t.Errorf("a report without facts has a facts field")
	}
}
