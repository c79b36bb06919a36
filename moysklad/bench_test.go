package moysklad_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/moysklad"
	"github.com/shipbridge/shipbridge/moysklad/moyskladtest"
)

// BenchmarkLimiter sends 200 requests from 8 concurrent callers through the
// client to the simulator with MoySklad's user-token budget of 11 requests
// per window, the window scaled down from 3 s to 300 ms, and 5 parallel
// requests allowed. It reports the achieved rate against the budget and the
// number of 429 answers.
func BenchmarkLimiter(b *testing.B) {
	const (
		total   = 200
		perWin  = 11
		window  = 300 * time.Millisecond
		workers = 8
	)
	for i := 0; i < b.N; i++ {
		s := moyskladtest.NewServer(moyskladtest.Options{RequestsPerWindow: perWin, Window: window, MaxParallel: 5,
			Latency: func() time.Duration { return time.Millisecond }})
		c, err := moysklad.New(moysklad.Config{BaseURL: s.URL(), Token: s.Token(), RequestsPerWindow: perWin, Window: window, MaxParallel: 4})
		if err != nil {
			b.Fatal(err)
		}
		jobs := make(chan struct{}, total)
		for j := 0; j < total; j++ {
			jobs <- struct{}{}
		}
		close(jobs)
		var wg sync.WaitGroup
		start := time.Now()
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range jobs {
					if err := c.Ping(context.Background()); err != nil {
						b.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		s.Close()
		rate := float64(total) / elapsed.Seconds()
		budget := float64(perWin) / window.Seconds()
		b.ReportMetric(rate, "req/s")
		b.ReportMetric(100*rate/budget, "%budget")
		b.ReportMetric(float64(s.TooManyRequests()), "429s")
		b.ReportMetric(float64(s.Requests()), "http-requests")
	}
}
