package main

import (
	"context"
	"fmt"
)

// groupSizeMetric is the store's histogram of the calls served by one
// group of database requests, by group (state.scyllastate.metrics_enabled).
const groupSizeMetric = "ipfscluster_scyllastate_group_size"

// requestGroups are the groups of the store whose sizes a REST add phase
// reports: write (pin changes: one event request, one row request per
// group), read (the rows read for upstream's pin), tracker_error (the
// stored failures).
var requestGroups = []string{"write", "read", "tracker_error"}

// groupCounts are a peer's group_size sums and counts by group.
type groupCounts map[string][2]float64

// groupsStart reads the group sizes of p before a phase: nil when p does
// not serve the store's metrics (-peer-metrics off, or a backend without
// the store).
func (s *scenario) groupsStart(ctx context.Context, p *peer) (groupCounts, error) {
	if p.metricsPort == 0 || !s.be.UsesDB {
		return nil, nil
	}
	return scrapeGroups(ctx, p.metricsPort)
}

// groupsEnd records, under prefix, the mean calls per group of each group
// during the phase begun with before.
func (s *scenario) groupsEnd(ctx context.Context, p *peer, before groupCounts, prefix string) error {
	if before == nil {
		return nil
	}
	after, err := scrapeGroups(ctx, p.metricsPort)
	if err != nil {
		return err
	}
	for g, mean := range groupMeans(before, after) {
		s.set(prefix+".group."+g, mean)
	}
	return nil
}

// groupMeans is the mean calls per group of each group that sent any
// between the two readings.
func groupMeans(before, after groupCounts) map[string]float64 {
	means := map[string]float64{}
	for _, g := range requestGroups {
		calls, groups := after[g][0]-before[g][0], after[g][1]-before[g][1]
		if groups > 0 {
			means[g] = calls / groups
		}
	}
	return means
}

func scrapeGroups(ctx context.Context, port int) (groupCounts, error) {
	c := groupCounts{}
	for _, g := range requestGroups {
		label := fmt.Sprintf("group=%q", g)
		sum, err := scrapeSum(ctx, port, groupSizeMetric+"_sum", label)
		if err != nil {
			return nil, err
		}
		count, err := scrapeSum(ctx, port, groupSizeMetric+"_count", label)
		if err != nil {
			return nil, err
		}
		c[g] = [2]float64{sum, count}
	}
	return c, nil
}
