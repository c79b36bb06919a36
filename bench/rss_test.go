package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Environment of the child process of BenchmarkBurstRSS.
const (
	envChild     = "SHIPBRIDGE_BENCH_RSS_CHILD"
	envMSURL     = "SHIPBRIDGE_BENCH_MS_URL"
	envMSToken   = "SHIPBRIDGE_BENCH_MS_TOKEN"
	envCDEKURL   = "SHIPBRIDGE_BENCH_CDEK_URL"
	envCDEKID    = "SHIPBRIDGE_BENCH_CDEK_ID"
	envCDEKSec   = "SHIPBRIDGE_BENCH_CDEK_SECRET"
	envBudget    = "SHIPBRIDGE_BENCH_BUDGET"
	envScale     = "SHIPBRIDGE_BENCH_SCALE"
	envPut       = "SHIPBRIDGE_BENCH_PUT"
	rssLinePrefx = "VmHWM_kB="
)

// BenchmarkBurstRSS runs the 1,000-order burst with shipbridge (poller,
// clients, store) in a child process and the simulators in this one, and
// reports the child's peak resident set (VmHWM) — the figure of a
// shipbridge process, without the simulators' memory. "waybill=40KB" serves
// realistic waybills (RealisticWaybillBytes), "waybill=sim" the simulator's
// own (under 1 KB); "-put" writes back one PUT per order, as before bulk
// write-back. Scaled ×10: the peak, not the time, is measured.
func BenchmarkBurstRSS(b *testing.B) {
	for _, c := range []struct {
		name    string
		waybill int
		put     bool
	}{
		{"waybill=40KB", RealisticWaybillBytes, false},
		{"waybill=40KB-put", RealisticWaybillBytes, true},
		{"waybill=sim", 0, false},
	} {
		b.Run(c.name, func(b *testing.B) { burstRSS(b, c.waybill, c.put) })
	}
}

func burstRSS(b *testing.B, waybill int, put bool) {
	for i := 0; i < b.N; i++ {
		e := newEnv(b, Options{Scale: 10, Budget: UserBudget, CDEKPollInterval: RecommendedCDEKPollInterval, WaybillBytes: waybill, PutWriteBack: put})
		ids := e.AddOrders("R-", 1000)
		var peakKB int
		cycle := func(ctx context.Context) error {
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestBurstRSSChild$", "-test.v")
			rem := e.RemoteOf()
			cmd.Env = append(os.Environ(), envChild+"=1",
				envMSURL+"="+rem.MoySkladURL, envMSToken+"="+rem.MoySkladToken,
				envCDEKURL+"="+rem.CDEKURL, envCDEKID+"="+rem.CDEKClientID, envCDEKSec+"="+rem.CDEKSecret,
				envPut+"="+strconv.FormatBool(e.Opts.PutWriteBack),
				envBudget+"="+strconv.Itoa(e.Opts.Budget), envScale+"="+strconv.FormatFloat(e.Opts.Scale, 'f', -1, 64))
			out, err := cmd.CombinedOutput()
			if err != nil {
				return fmt.Errorf("child: %v\n%s", err, out)
			}
			sc := bufio.NewScanner(strings.NewReader(string(out)))
			for sc.Scan() {
				if i := strings.Index(sc.Text(), rssLinePrefx); i >= 0 {
					peakKB, _ = strconv.Atoi(strings.TrimSpace(sc.Text()[i+len(rssLinePrefx):]))
				}
			}
			if peakKB == 0 {
				return fmt.Errorf("child printed no %s line:\n%s", rssLinePrefx, out)
			}
			return nil
		}
		r, err := e.BurstOf(context.Background(), ids, 1, func() error { return e.SetReady(ids...) }, cycle)
		if err != nil {
			b.Fatal(err)
		}
		if r.Registered != r.Orders {
			b.Errorf("%d of %d registered", r.Registered, r.Orders)
		}
		b.ReportMetric(float64(peakKB)/1024, "peak-RSS-MB")
		b.ReportMetric(r.Ratio(), "wall/floor")
		b.Logf("child peak RSS %.1f MB; %d/%d registered; wall %s (floor %s)", float64(peakKB)/1024, r.Registered, r.Orders, r.Wall, r.Floor)
	}
}

// TestBurstRSSChild is the shipbridge side of BenchmarkBurstRSS; it runs
// only in the child process.
func TestBurstRSSChild(t *testing.T) {
	if os.Getenv(envChild) == "" {
		t.Skip("child of BenchmarkBurstRSS")
	}
	budget, _ := strconv.Atoi(os.Getenv(envBudget))
	scale, _ := strconv.ParseFloat(os.Getenv(envScale), 64)
	put, _ := strconv.ParseBool(os.Getenv(envPut))
	dir := t.TempDir()
	sampler := startRSSSampler(filepath.Join(dir, "shipbridge.db"))
	e, err := NewEnv(Options{Scale: scale, Budget: budget, Dir: dir, CDEKPollInterval: RecommendedCDEKPollInterval, PutWriteBack: put,
		Remote: &Remote{MoySkladURL: os.Getenv(envMSURL), MoySkladToken: os.Getenv(envMSToken),
			CDEKURL: os.Getenv(envCDEKURL), CDEKClientID: os.Getenv(envCDEKID), CDEKSecret: os.Getenv(envCDEKSec)}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	// Cycles until one finds nothing to do: the first takes the burst.
	for i := 0; i < 10; i++ {
		if err := e.Cycle(context.Background()); err != nil {
			t.Fatal(err)
		}
		if e.P.Progress().Found == 0 {
			break
		}
		time.Sleep(e.S(time.Second))
	}
	sampler.finish()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb := strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:")), " kB")
			fmt.Println(rssLinePrefx + strings.TrimSpace(kb))
		}
	}
}
