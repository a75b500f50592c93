package cassandra

import (
	"bytes"
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// conf holds the templates of every node's files: @VAR@ is replaced by
// the value of VAR.
//
//go:embed conf/*
var conf embed.FS

// render is the template name with each @VAR@ replaced, ending with one
// newline.
func render(name string, vars map[string]string) []byte {
	b, err := conf.ReadFile("conf/" + name)
	if err != nil {
		panic(err) // embedded: cannot happen
	}
	s := strings.TrimRight(string(b), "\n")
	for k, v := range vars {
		s = strings.ReplaceAll(s, "@"+k+"@", v)
	}
	return []byte(s + "\n")
}

// jamm is the jamm agent jar (its version may change with Cassandra's).
func (in *Instance) jamm() string {
	m, _ := filepath.Glob(filepath.Join(in.Lib, "jamm-*.jar"))
	sort.Strings(m)
	if len(m) == 0 {
		return ""
	}
	return m[0]
}

// writeNodeConf writes node i's cassandra.yaml, cassandra-rackdc.properties,
// logback.xml and jvm.args (the java argument file).
func (in *Instance) writeNodeConf(i int) error {
	nd := in.nodeDir(i)
	n := in.nodes[i-1]
	for _, d := range []string{"conf/triggers", "logs", "storage"} {
		if err := os.MkdirAll(filepath.Join(nd, d), 0o755); err != nil {
			return err
		}
	}
	seeds := make([]string, len(in.Hosts))
	for k, ip := range in.Hosts {
		seeds[k] = ip + ":" + strconv.Itoa(in.StoragePort)
	}
	snitch := "SimpleSnitch"
	if len(in.DCs) > 0 {
		snitch = "GossipingPropertyFileSnitch"
	}
	var yaml bytes.Buffer
	yaml.Write(render("cassandra.yaml", map[string]string{
		"NAME": in.Name, "I": strconv.Itoa(i), "TOKEN": n.token.String(), "SNITCH": snitch,
		"SEEDS": strings.Join(seeds, ","), "IP": n.ip, "STORAGE_PORT": strconv.Itoa(in.StoragePort),
		"PORT": strconv.Itoa(in.Port),
	}))
	if in.Auth {
		yaml.Write(render("cassandra-auth.yaml", nil))
	}
	if in.TLS {
		yaml.Write(render("cassandra-tls.yaml", map[string]string{"TLS_DIR": in.TLSDir}))
	}
	files := map[string][]byte{
		"cassandra.yaml": yaml.Bytes(),
		"logback.xml":    render("logback.xml", nil),
		"jvm.args":       in.jvmArgs(i),
	}
	// GossipingPropertyFileSnitch reads it from the classpath (the conf dir comes first).
	rackdc := filepath.Join(nd, "conf", "cassandra-rackdc.properties")
	if len(in.DCs) > 0 {
		files["cassandra-rackdc.properties"] = []byte(fmt.Sprintf("dc=%s\nrack=%s\n", n.dc, n.rack))
	} else {
		_ = os.Remove(rackdc)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(nd, "conf", name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// jvmArgs is node i's java argument file: the common flags, the heap, the
// node's paths, then the extra flags of CASSANDRA_JVM_OPTS.
func (in *Instance) jvmArgs(i int) []byte {
	nd := in.nodeDir(i)
	var lines []string
	for _, l := range strings.Split(string(render("jvm-server.options", nil)), "\n") {
		if strings.HasPrefix(l, "#") || strings.TrimSpace(l) == "" {
			continue
		}
		lines = append(lines, l)
	}
	q := func(s string) string { return `"` + s + `"` }
	lines = append(lines, "-Xms"+in.Heap, "-Xmx"+in.Heap,
		q("-XX:ErrorFile="+nd+"/logs/hs_err_%p.log"),
		q("-javaagent:"+in.jamm()),
		q("-Dcassandra.config=file://"+nd+"/conf/cassandra.yaml"),
		q("-Dcassandra.storagedir="+nd+"/storage"),
		q("-Dcassandra.logdir="+nd+"/logs"),
		q("-Dcassandra.triggers_dir="+nd+"/conf/triggers"),
		q("-Dlogback.configurationFile="+nd+"/conf/logback.xml"))
	if in.Auth && in.N() > 1 {
		lines = append(lines, "-Dcassandra.system_auth.default_rf="+strconv.Itoa(min(in.N(), 3)))
	}
	lines = append(lines, in.JVMOpts...)
	lines = append(lines, "-cp", q(nd+"/conf:"+in.Lib+"/*"), "org.apache.cassandra.service.CassandraDaemon")
	return []byte(strings.Join(lines, "\n") + "\n")
}
