package scylla

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const testPeer = "12D3KooWAr3U56jYqtSqmfmisXtwpb3ABuVBbZfcEVe3ctNRumNw"

func TestDefaultTrustsAllAndValidates(t *testing.T) {
	cfg := &Config{}
	_ = cfg.Default()
	if !cfg.TrustAll || cfg.PollInterval != DefaultPollInterval || cfg.ReadyTimeout != DefaultReadyTimeout || cfg.RepairInterval != DefaultRepairInterval {
		t.Fatalf("defaults: %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestJSONRoundTripKeepsTrustedPeers(t *testing.T) {
	cfg := &Config{}
	err := cfg.LoadJSON([]byte(`{"trusted_peers": ["` + testPeer + `"], "poll_interval": "250ms", "cluster_name": "prod", "repair_interval": "1h"}`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TrustAll || len(cfg.TrustedPeers) != 1 || cfg.TrustedPeers[0].String() != testPeer {
		t.Fatalf("trusted peers: all=%v %v", cfg.TrustAll, cfg.TrustedPeers)
	}
	if cfg.PollInterval != 250*time.Millisecond || cfg.ClusterName != "prod" || cfg.FeedOverlap != DefaultFeedOverlap || cfg.RepairInterval != time.Hour {
		t.Fatalf("loaded %+v", cfg)
	}
	raw, _ := cfg.ToJSON()
	again := &Config{}
	if err := again.LoadJSON(raw); err != nil {
		t.Fatal(err)
	}
	if again.TrustAll || len(again.TrustedPeers) != 1 || again.PollInterval != cfg.PollInterval || again.RepairInterval != time.Hour {
		t.Fatalf("round trip lost fields: %s", raw)
	}
}

func TestEnvOverrides(t *testing.T) {
	cfg := &Config{}
	_ = cfg.Default()
	t.Setenv("CLUSTER_SCYLLA_TRUSTEDPEERS", testPeer)
	t.Setenv("CLUSTER_SCYLLA_READYTIMEOUT", "2m")
	t.Setenv("CLUSTER_SCYLLA_REPAIRINTERVAL", "30m")
	if err := cfg.ApplyEnvVars(); err != nil {
		t.Fatal(err)
	}
	if cfg.TrustAll || len(cfg.TrustedPeers) != 1 || cfg.ReadyTimeout != 2*time.Minute || cfg.RepairInterval != 30*time.Minute {
		t.Fatalf("env not applied: %+v", cfg)
	}
}

func TestInvalidValuesNameTheField(t *testing.T) {
	cases := map[string]string{
		`{"cluster_name": ""}`:          "cluster_name",
		`{"poll_interval": "1ms"}`:      "poll_interval",
		`{"feed_overlap": "-1s"}`:       "feed_overlap",
		`{"checkpoint_interval": "0s"}`: "checkpoint_interval",
		`{"catch_up_concurrency": 0}`:   "catch_up_concurrency",
		`{"ready_timeout": "0s"}`:       "ready_timeout",
		`{"trusted_peers": ["bob"]}`:    "trusted_peers",
		`{"poll_interval": "often"}`:    "poll_interval",
		`{"repair_interval": "0s"}`:     "repair_interval",
		`{"repair_interval": "daily"}`:  "repair_interval",
		`{"repair_interval": "9000h"}`:  "repair_interval",
		// One slice every 1ms: too often.
		`{"repair_interval": "1s", "recover_slices": 1000}`: "repair_interval",
	}
	for js, field := range cases {
		cfg := &Config{}
		err := cfg.LoadJSON([]byte(js))
		if err == nil {
			err = cfg.Validate()
		}
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: want an error naming %s, got %v", js, field, err)
		}
	}
}
