package app

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/poller"
)

func (e *env) retryCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "retry ORDER",
		Short: "Make an order's scheduled retry due now (by MoySklad order name or id)",
		Long: "An order whose carrier call failed waits for its retry time (see `shipbridge history ORDER`,\n" +
			"\"next attempt\"). `retry` makes it due now: the next cycle, or `shipbridge once`, handles it.\n" +
			"Only orders with unfinished work can be retried. The store is locked while `shipbridge run`\n" +
			"is running: stop it first, or wait for its next cycle.",
		Example: "  shipbridge retry 00042 && shipbridge once",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, log, err := e.setupWith(validateForStore)
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			st, err := e.openStoreForReading(cfg)
			if err != nil {
				return err
			}
			defer func() { _ = st.Close() }()
			rec, _, err := lookupOrder(st, args[0])
			if err != nil {
				return fail(ExitFailure, err)
			}
			ok, err := poller.RetryNow(st, rec.ID, e.now())
			if err != nil {
				return fail(ExitFailure, fmt.Errorf("retry %s: %w", rec.Name, err))
			}
			out := cmd.OutOrStdout()
			if !ok {
				return fail(ExitFailure, fmt.Errorf("order %s has no unfinished work to retry (phase %s, MoySklad status «%s»): set its status again in MoySklad to start a new action", rec.Name, rec.Phase, rec.LastState))
			}
			was := "was due already"
			if rec.NextAttemptAt.After(e.now()) {
				was = "was due at " + rec.NextAttemptAt.In(e.now().Location()).Format(timeLayout)
			}
			_, err = fmt.Fprintf(out, "Order %s is due now (its retry %s); the next cycle handles it.\n", rec.Name, was)
			return err
		},
	}
}

// logWaiting tells, after a cycle, how many orders wait for a retry and
// when the first is due.
func logWaiting(log *zap.Logger, pr poller.Progress, now time.Time) {
	if pr.Waiting == 0 {
		return
	}
	log.Info("orders waiting for their retry", zap.Int("waiting", pr.Waiting), zap.Time("next_retry_at", pr.NextRetryAt),
		zap.Duration("next_retry_in", pr.NextRetryAt.Sub(now).Round(time.Second)),
		zap.String("hint", "shipbridge history ORDER shows why; shipbridge retry ORDER makes one due now"))
}
