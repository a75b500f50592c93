package scyllastate

import (
	"context"
	"time"
)

// The background work of a writer: it beats and finishes the changes of
// its backlog until the store closes (see writer and stage).

// reannounce announces again, in every data center, the changes written
// in this data center only, once every data center can be reached.
func (wr *writer) reannounce(ctx context.Context) {
	wr.mu.Lock()
	since := wr.unconfirmedSince
	wr.mu.Unlock()
	if since == 0 {
		return
	}
	passStart := time.Now()
	var todo []Event
	err := wr.events.events(ctx, time.UnixMicro(since), passStart, func(e Event) error {
		if e.Writer == wr.id && !e.Legacy && e.WriteTime >= since {
			todo = append(todo, e)
		}
		return nil
	})
	if err == nil {
		for _, e := range todo {
			if err = wr.announce(ctx, e); err != nil {
				break
			}
		}
	}
	if err != nil {
		logger.Debugf("changes since %s still not announced in every data center: %s", time.UnixMicro(since).Format(time.RFC3339), err)
		return
	}
	wr.mu.Lock()
	if wr.lastFallback < passStart.UnixMicro() {
		wr.unconfirmedSince, wr.lastFallback = 0, 0
	} else {
		wr.unconfirmedSince = passStart.UnixMicro()
	}
	wr.mu.Unlock()
	logger.Infof("%d changes written in this data center only are now announced in every data center", len(todo))
}

// run beats and finishes the backlog until the store closes.
func (wr *writer) run() {
	defer wr.wg.Done()
	beat := time.NewTicker(HeartbeatInterval)
	defer beat.Stop()
	repair := time.NewTicker(repairInterval)
	defer repair.Stop()
	for {
		select {
		case <-wr.ctx.Done():
			return
		case <-beat.C:
			if err := wr.beat(false); err != nil {
				logger.Warnf("recording the heartbeat of writer %s: %s", wr.id, err)
			}
		case <-repair.C:
			wr.finish(wr.ctx)
			wr.reannounce(wr.ctx)
		}
	}
}

// finish takes the backlog a stage further: events of unknown outcome
// are written again (same ID, same timestamp: idempotent), then rows,
// then a fresh event for those whose event may have landed behind the
// readers (every event retried is: the readers may have passed it).
func (wr *writer) finish(ctx context.Context) {
	wr.mu.Lock()
	todo := wr.backlog
	wr.backlog = nil
	wr.mu.Unlock()
	if len(todo) == 0 {
		return
	}
	byStage := func(st stage) []*pendingWrite {
		var out []*pendingWrite
		for _, w := range todo {
			if w.stage == st && w.err == nil {
				out = append(out, w)
			}
		}
		return out
	}
	if ws := byStage(needEvent); len(ws) > 0 {
		wr.writeEvents(ctx, ws)
		for _, w := range ws {
			if w.eventDone {
				w.stage, w.late = needRow, true
			}
		}
	}
	if ws := byStage(needRow); len(ws) > 0 {
		wr.writeRows(ctx, ws, "writing pin rows again")
		for _, w := range ws {
			if w.err == nil {
				w.stage = needNotice
			}
		}
	}
	for _, w := range byStage(needNotice) {
		if !w.late {
			w.stage = finished
			continue
		}
		notice := *w
		notice.idTime, notice.eventID = wr.freshID()
		if err := wr.eventLayout(ctx, []*pendingWrite{&notice}); err != nil {
			w.err = err
			continue
		}
		ev := wr.eventStmt(&notice)
		wr.db.runBatches(ctx, append(wr.activity.pending([]stmt{ev}), []stmt{ev}), "announcing a late change", wr.db.eventCons, nil)
		if notice.err != nil {
			w.err = notice.err
			continue
		}
		w.stage = finished
	}
	var left []*pendingWrite
	var firstErr error
	for _, w := range todo {
		if w.stage == finished {
			continue
		}
		if w.err != nil && firstErr == nil {
			firstErr = w.err
		}
		w.err = nil
		left = append(left, w)
	}
	if done := len(todo) - len(left); done > 0 {
		logger.Infof("%d changes finished in the background (outcome unknown, row missing or event late)", done)
	}
	if firstErr != nil {
		logger.Warnf("%d changes not finished yet; retrying in %s: %s", len(left), repairInterval, firstErr)
	}
	wr.mu.Lock()
	wr.backlog = append(wr.backlog, left...)
	wr.mu.Unlock()
}

// close waits for the groups in flight, retries pending rows once and
// records the final heartbeat: closed when nothing is left unfinished.
func (wr *writer) close() {
	wr.groups.close()
	wr.mu.Lock() // no heartbeat starts after this
	wr.cancel()
	wr.mu.Unlock()
	wr.wg.Wait()
	wr.mu.Lock()
	started := wr.started
	wr.mu.Unlock()
	if !started {
		return
	}
	// The database may be down: bound the last attempts.
	ctx, cancel := context.WithTimeout(context.Background(), 2*wr.db.cfg.Timeout)
	defer cancel()
	wr.finish(ctx)
	wr.reannounce(ctx)
	wr.mu.Lock()
	clean := len(wr.backlog) == 0 && wr.unconfirmedSince == 0
	wr.mu.Unlock()
	if !clean {
		logger.Errorf("closing with changes not completed (outcome unknown, pin rows not written, or events written in this data center only): another peer will complete them")
	}
	if err := wr.beat(clean); err != nil {
		logger.Warnf("recording the last heartbeat of writer %s: %s", wr.id, err)
	}
}
