package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"
)

// envRSSProfile, set to a directory, makes the child of BenchmarkBurstRSS
// sample its memory every 20 ms and write there, for finding what holds
// the peak:
//
//	timeline.csv      time, VmRSS, RssAnon, RssFile, and the Go heap's figures
//	heap-peak.pprof   heap profile taken when VmRSS last rose by ≥ 1 MB
//	peak.txt          the figures at that moment, and the store file's size
//	heap-end.pprof    heap profile after the burst (alloc_space: what was allocated)
//
// Example:
//
//	SHIPBRIDGE_BENCH_RSS_PROFILE=/tmp/rss go test -run '^$' -bench 'BurstRSS/waybill=40KB$' -benchtime 1x ./bench/
//	go tool pprof -sample_index=inuse_space -top /tmp/rss/heap-peak.pprof
const envRSSProfile = "SHIPBRIDGE_BENCH_RSS_PROFILE"

// rssSampler samples the child's memory (see envRSSProfile).
type rssSampler struct {
	dir, db string
	stop    chan struct{}
	done    sync.WaitGroup
	csv     *bufio.Writer
	f       *os.File
	start   time.Time
	peakKB  int
	peak    string
}

// startRSSSampler starts sampling when envRSSProfile is set; nil otherwise.
// db is the store file, whose size is reported with the peak.
func startRSSSampler(db string) *rssSampler {
	dir := os.Getenv(envRSSProfile)
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		panic(err)
	}
	// Finer than the default 512 KB, so that 40 KB waybills show up.
	runtime.MemProfileRate = 16 << 10
	f, err := os.Create(filepath.Join(dir, "timeline.csv"))
	if err != nil {
		panic(err)
	}
	s := &rssSampler{dir: dir, db: db, stop: make(chan struct{}), f: f, csv: bufio.NewWriter(f), start: time.Now()}
	fmt.Fprintln(s.csv, "ms,rss_kb,anon_kb,file_kb,heap_inuse_kb,heap_alloc_kb,heap_sys_kb,heap_released_kb,stack_kb,next_gc_kb,num_gc,db_kb")
	s.done.Add(1)
	go s.run()
	return s
}

func (s *rssSampler) run() {
	defer s.done.Done()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		st := procStatus()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		var dbKB int64
		if fi, err := os.Stat(s.db); err == nil {
			dbKB = fi.Size() >> 10
		}
		line := fmt.Sprintf("%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d", time.Since(s.start).Milliseconds(), st["VmRSS"], st["RssAnon"], st["RssFile"],
			m.HeapInuse>>10, m.HeapAlloc>>10, m.HeapSys>>10, m.HeapReleased>>10, m.StackInuse>>10, m.NextGC>>10, m.NumGC, dbKB)
		fmt.Fprintln(s.csv, line)
		if rss := st["VmRSS"]; rss >= s.peakKB+1024 {
			s.peakKB = rss
			s.peak = line
			s.writeProfile("heap-peak.pprof")
		}
	}
}

func (s *rssSampler) writeProfile(name string) {
	var b bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&b, 0); err == nil {
		_ = os.WriteFile(filepath.Join(s.dir, name), b.Bytes(), 0o644)
	}
}

// finish stops sampling and writes the peak's figures and the final profile.
func (s *rssSampler) finish() {
	if s == nil {
		return
	}
	close(s.stop)
	s.done.Wait()
	_ = s.csv.Flush()
	_ = s.f.Close()
	s.writeProfile("heap-end.pprof")
	var dbKB int64
	if fi, err := os.Stat(s.db); err == nil {
		dbKB = fi.Size() >> 10
	}
	st := procStatus()
	txt := fmt.Sprintf("columns: ms,rss_kb,anon_kb,file_kb,heap_inuse_kb,heap_alloc_kb,heap_sys_kb,heap_released_kb,stack_kb,next_gc_kb,num_gc,db_kb\npeak:   %s\nend: VmHWM %d kB, VmRSS %d kB (anon %d, file %d), store file %d kB\n",
		s.peak, st["VmHWM"], st["VmRSS"], st["RssAnon"], st["RssFile"], dbKB)
	txt += "mappings with Rss ≥ 1 MB at the end:\n" + bigMappings()
	_ = os.WriteFile(filepath.Join(s.dir, "peak.txt"), []byte(txt), 0o644)
}

// procStatus reads the kB figures of /proc/self/status.
func procStatus() map[string]int {
	out := map[string]int{}
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || !strings.HasSuffix(v, " kB") {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(v, " kB")))
		if err == nil {
			out[k] = n
		}
	}
	return out
}

// bigMappings lists the mappings of /proc/self/smaps with at least 1 MB resident.
func bigMappings() string {
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return err.Error() + "\n"
	}
	var out strings.Builder
	var head string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 0 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":"):
			head = line
		case len(f) == 3 && f[0] == "Rss:":
			if kb, _ := strconv.Atoi(f[1]); kb >= 1024 {
				fmt.Fprintf(&out, "  %6d kB  %s\n", kb, head)
			}
		}
	}
	return out.String()
}
