package service

import (
	"context"
	"slices"

	ipfscluster "github.com/ipfs-cluster/ipfs-cluster"
	"github.com/ipfs-cluster/ipfs-cluster/api"
)

// pinLsEachType is the IPFS connector whose PinLs lists every type asked
// for. Upstream v1.1.5's ipfshttp.Connector.PinLs lists only the first
// type of a call that asks for several (it leaves its loop at the end of
// the first type's listing), and its tracker and numpin informer ask for
// "recursive" and "direct": every direct pin then showed as
// unexpectedly_unpinned in status, and was left out of the pin count.
// This connector lists each type with its own call.
type pinLsEachType struct {
	ipfscluster.IPFSConnector
}

// PinLs sends the pins of IPFS of each type in typeFilters to out, and
// closes it. The types are listed last to first, so that the connector's
// gauge of IPFS pins, set by each call to its count, keeps the first
// type's count as upstream's call gave.
func (c pinLsEachType) PinLs(ctx context.Context, typeFilters []string, out chan<- api.IPFSPinInfo) error {
	if len(typeFilters) <= 1 {
		return c.IPFSConnector.PinLs(ctx, typeFilters, out)
	}
	defer close(out)
	types := slices.Clone(typeFilters)
	slices.Reverse(types)
	for _, typ := range types {
		ch := make(chan api.IPFSPinInfo, 1024)
		errc := make(chan error, 1)
		go func() { errc <- c.IPFSConnector.PinLs(ctx, []string{typ}, ch) }()
		for pi := range ch {
			select {
			case out <- pi:
			case <-ctx.Done():
				for range ch { // the call ends on ctx and closes ch
				}
				<-errc
				return ctx.Err()
			}
		}
		if err := <-errc; err != nil {
			return err
		}
	}
	return nil
}
