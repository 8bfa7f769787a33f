package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// loop sends a GET to url every interval from two clients, one keeping
// its connection alive and one opening a new connection for each
// request, until SIGTERM or SIGINT. Then it prints one line
// "loop: total N failed M" and the first errors, and exits 0. A request
// fails on a transport error or a status other than 200.
func loop(url string, every time.Duration) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var total, failed atomic.Int64
	var mu sync.Mutex
	var errs []string
	clients := map[string]*http.Client{
		"keep-alive":     {Timeout: 10 * time.Second},
		"new-connection": {Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}
	var wg sync.WaitGroup
	for name, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				err := get(c, url)
				total.Add(1)
				if err != nil {
					failed.Add(1)
					mu.Lock()
					if len(errs) < 20 {
						errs = append(errs, fmt.Sprintf("%s %s: %v", time.Now().Format("15:04:05.000"), name, err))
					}
					mu.Unlock()
				}
			}
		}()
	}
	fmt.Printf("loop: started against %s\n", url)
	wg.Wait()
	fmt.Printf("loop: total %d failed %d\n", total.Load(), failed.Load())
	for _, e := range errs {
		fmt.Println("loop: error:", e)
	}
	return 0
}

// get fetches url and reads its body; any status but 200 is an error.
func get(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}
