package standin

import (
	"sync"
	"testing"
)

// TestFreeAddrsDistinct: no address is handed out twice in a process, in
// one call or across calls made at once (a port handed twice made a second
// aws-lambda-rie exit with "address already in use").
func TestFreeAddrsDistinct(t *testing.T) {
	const calls, per = 50, 2
	got := make(chan []string, calls)
	var wg sync.WaitGroup
	for range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addrs, err := freeAddrs(per)
			if err != nil {
				t.Error(err)
			}
			got <- addrs
		}()
	}
	wg.Wait()
	close(got)
	seen := map[string]bool{}
	for addrs := range got {
		if len(addrs) != per {
			t.Fatalf("got %d addresses, want %d", len(addrs), per)
		}
		for _, a := range addrs {
			if seen[a] {
				t.Errorf("address %s handed out twice", a)
			}
			seen[a] = true
		}
	}
}
