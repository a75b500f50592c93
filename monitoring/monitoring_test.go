// Package monitoring checks the Prometheus rules and the Grafana dashboard
// beside it: they parse, and every metric they query is one the peers
// export (names_test.go). promtool checks and unit-tests the rules
// themselves (`make test-monitoring`); TestPrometheusScrapesAPeer of
// cmd/ipfs-cluster-service runs them, and every
// dashboard query, on a real Prometheus scraping a real peer.
package monitoring

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

const (
	alertsFile     = "prometheus/alerts.yml"
	alertTestsFile = "prometheus/alerts_test.yml"
	dashboardFile  = "grafana/ipfs-cluster-scylla.json"
)

// metricNames returns the metric name of every series selector of a PromQL
// expression, or an error if it does not parse or a selector has no name.
func metricNames(expr string) ([]string, error) {
	ast, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	var missing error
	parser.Inspect(ast, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if name == "" && m.Name == "__name__" {
				name = m.Value
			}
		}
		if name == "" {
			missing = fmt.Errorf("selector %s names no metric", vs)
		}
		names = append(names, name)
		return nil
	})
	return names, missing
}

// checkKnown reports every metric of expr that is not in known.
func checkKnown(t *testing.T, where, expr string, known map[string]bool) []string {
	t.Helper()
	names, err := metricNames(expr)
	if err != nil {
		t.Errorf("%s: %v\n\t%s", where, err, expr)
		return nil
	}
	for _, n := range names {
		if !known[n] {
			t.Errorf("%s: unknown metric %q (not in names_test.go: a typo, or a metric no peer exports)", where, n)
		}
	}
	return names
}

type alertRule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func loadRules(t *testing.T) []alertRule {
	t.Helper()
	raw, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Groups []struct {
			Name  string      `yaml:"name"`
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	var rules []alertRule
	for _, g := range doc.Groups {
		rules = append(rules, g.Rules...)
	}
	if len(rules) == 0 {
		t.Fatalf("%s holds no rules", alertsFile)
	}
	return rules
}

func TestRulesUseKnownMetrics(t *testing.T) {
	known := knownMetrics()
	for _, r := range loadRules(t) {
		checkKnown(t, alertsFile+": "+r.Alert+r.Record, r.Expr, known)
	}
}

func TestAlertsHaveSeverityAndNameThePeer(t *testing.T) {
	severities := []string{"critical", "warning", "info"}
	for _, r := range loadRules(t) {
		if r.Alert == "" {
			continue
		}
		if !slices.Contains(severities, r.Labels["severity"]) {
			t.Errorf("%s: severity %q, want one of %v", r.Alert, r.Labels["severity"], severities)
		}
		for _, a := range []string{"summary", "description"} {
			if !strings.Contains(r.Annotations[a], "{{ $labels.instance }}") {
				t.Errorf("%s: the %s does not name the peer ({{ $labels.instance }}): %q", r.Alert, a, r.Annotations[a])
			}
		}
		if !strings.Contains(r.Annotations["description"], "ipfs-cluster-service") {
			t.Errorf("%s: the description says nothing to run on the peer (ipfs-cluster-service ...)", r.Alert)
		}
	}
}

// TestEveryAlertIsUnitTested: alerts_test.yml expects each alert to fire at
// some evaluation and to stay silent at another.
func TestEveryAlertIsUnitTested(t *testing.T) {
	raw, err := os.ReadFile(alertTestsFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string           `yaml:"alertname"`
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", alertTestsFile, err)
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range doc.Tests {
		for _, e := range tc.AlertRuleTest {
			if len(e.ExpAlerts) > 0 {
				fires[e.Alertname] = true
			} else {
				silent[e.Alertname] = true
			}
		}
	}
	for _, r := range loadRules(t) {
		if r.Alert == "" {
			continue
		}
		if !fires[r.Alert] {
			t.Errorf("%s: no test in %s expects it to fire", r.Alert, alertTestsFile)
		}
		if !silent[r.Alert] {
			t.Errorf("%s: no test in %s expects it to stay silent", r.Alert, alertTestsFile)
		}
	}
}

type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource *datasource     `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		RefID      string      `json:"refId"`
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // collapsed rows
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s is not valid JSON: %v", dashboardFile, err)
	}
	return d
}

func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// grafanaVars are Grafana's variables, replaced by values PromQL accepts.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "1m",
	"$__interval", "1m",
	"$__range", "1h",
)

// labelValues matches a Grafana query variable label_values(SELECTOR, LABEL).
var labelValues = regexp.MustCompile(`^label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)

// dashboardExprs returns every PromQL expression of the dashboard, keyed by
// where it is, with Grafana's variables replaced.
func dashboardExprs(t *testing.T, d dashboard) map[string]string {
	t.Helper()
	exprs := map[string]string{}
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			exprs[fmt.Sprintf("panel %q target %s", p.Title, tg.RefID)] = grafanaVars.Replace(tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			if err := json.Unmarshal(v.Query, &q.Query); err != nil {
				t.Errorf("variable %s: query is neither an object nor a string: %s", v.Name, v.Query)
				continue
			}
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			t.Errorf("variable %s: %q is not label_values(SELECTOR, LABEL)", v.Name, q.Query)
			continue
		}
		exprs["variable "+v.Name] = grafanaVars.Replace(m[1])
	}
	return exprs
}

func TestDashboardIsAGrafanaDashboardOnAPrometheusVariable(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q, title %q: both must be set", d.UID, d.Title)
	}
	var dsVar bool
	for _, v := range d.Templating.List {
		if v.Name == "datasource" && v.Type == "datasource" && string(v.Query) == `"prometheus"` {
			dsVar = true
		}
	}
	if !dsVar {
		t.Fatal(`no templating variable "datasource" of type datasource for prometheus`)
	}
	want := datasource{Type: "prometheus", UID: "${datasource}"}
	ids := map[int]string{}
	var queries int
	for _, p := range allPanels(d.Panels) {
		if other, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", other, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v is outside the 24 columns", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || *p.Datasource != want {
			t.Errorf("panel %q: datasource %+v, want %+v", p.Title, p.Datasource, want)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			queries++
			if tg.Datasource != nil && *tg.Datasource != want {
				t.Errorf("panel %q target %s: datasource %+v, want %+v", p.Title, tg.RefID, tg.Datasource, want)
			}
		}
	}
	for _, v := range d.Templating.List {
		if v.Type == "query" && (v.Datasource == nil || *v.Datasource != want) {
			t.Errorf("variable %s: datasource %+v, want %+v", v.Name, v.Datasource, want)
		}
	}
	if queries == 0 {
		t.Error("the dashboard has no query")
	}
}

func TestDashboardUsesKnownMetrics(t *testing.T) {
	d := loadDashboard(t)
	known := knownMetrics()
	for where, expr := range dashboardExprs(t, d) {
		checkKnown(t, dashboardFile+": "+where, expr, known)
	}
}

// TestDashboardShowsEveryStoreAndFeedMetric: a metric of ours that no panel
// shows is a gap in the dashboard.
func TestDashboardShowsEveryStoreAndFeedMetric(t *testing.T) {
	d := loadDashboard(t)
	used := map[string]bool{}
	for _, expr := range dashboardExprs(t, d) {
		names, err := metricNames(expr)
		if err != nil {
			continue // reported by TestDashboardUsesKnownMetrics
		}
		for _, n := range names {
			used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_count"), "_sum")] = true
			used[n] = true
		}
	}
	var missing []string
	for _, n := range append(slices.Clone(histograms), ourMetrics...) {
		if !used[n] {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("no panel shows %v", missing)
	}
}

// TestMetricNamesCatchesUnknownNames: the check itself tells a typo from a
// known name, through functions, aggregations and binary operators.
func TestMetricNamesCatchesUnknownNames(t *testing.T) {
	names, err := metricNames(`sum by (instance) (rate(ipfscluster_scylla_feed_poll_errors_totl[5m])) / on (instance) up{job="x"} and ipfscluster_pins`)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ipfscluster_scylla_feed_poll_errors_totl", "up", "ipfscluster_pins"}
	if !slices.Equal(names, want) {
		t.Fatalf("names %v, want %v", names, want)
	}
	known := knownMetrics()
	if known[names[0]] || !known[names[1]] || !known[names[2]] {
		t.Errorf("known: %s=%v %s=%v %s=%v", names[0], known[names[0]], names[1], known[names[1]], names[2], known[names[2]])
	}
	if _, err := metricNames(`{job="x"}`); err == nil {
		t.Error("a selector without a metric name passed")
	}
	if _, err := metricNames(`rate(x[5m]`); err == nil {
		t.Error("an expression that does not parse passed")
	}
}
