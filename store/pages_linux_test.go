package store

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// mappedKB is how much of the store file's mapping is resident in this
// process (its Rss line in /proc/self/smaps).
func mappedKB(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			in = strings.HasSuffix(line, " "+path)
			continue
		}
		if in && len(f) == 3 && f[0] == "Rss:" {
			kb, _ := strconv.Atoi(f[1])
			return kb
		}
	}
	t.Fatalf("no mapping of %s", path)
	return 0
}

// A blob read does not stay resident, and releaseMapped gives back what
// reading and writing left mapped.
func TestBlobPagesGivenBack(t *testing.T) {
	s, _ := openTemp(t)
	big := pdf(4<<20, 9)
	if err := s.SaveBlob(OrderRecord{ID: "big"}, "waybill", big); err != nil {
		t.Fatal(err)
	}
	s.releaseMapped()
	before := mappedKB(t, s.Path())
	sum := 0
	if _, err := s.ReadBlob("big", "waybill", func(b []byte) error {
		for _, c := range b {
			sum += int(c)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The kernel maps up to 64 KB around each fault; 4 MB were read.
	if after := mappedKB(t, s.Path()); after-before > 512 {
		t.Errorf("resident after reading a 4 MB blob: %d kB, before %d kB", after, before)
	}
	for i := range 64 {
		if err := s.SaveBlob(OrderRecord{ID: "o" + strconv.Itoa(i)}, "waybill", pdf(40<<10, byte(i))); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Order("o" + strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	s.releaseMapped()
	if kb := mappedKB(t, s.Path()); kb > 64 {
		t.Errorf("resident after releaseMapped: %d kB", kb)
	}
}
