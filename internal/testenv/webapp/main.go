// Command webapp is the tiny HTTP server baked into the ferry-webapp test
// images (see .ci/webapp-image). It needs nothing but itself, so the image
// is FROM scratch and is built without pulling anything.
//
// Environment:
//
//	PORT         port to listen on (default 8080)
//	MESSAGE      body of "/" (default "hello", or the image's default)
//	FAIL_HEALTH  "1" makes /healthz answer 500
//	HEALTHY_AFTER  a duration ("3s"): /healthz answers 503 until it has
//	             passed since the start, to make start order observable
//
// Besides "/" and "/healthz" it serves "/call?url=URL", which fetches URL
// and answers its body (to reach another service by name), and
// "/file?path=PATH", which answers the file's content (to read a mounted
// secret). The images are for tests only.
//
// With -healthcheck URL it instead fetches URL once and exits 0 on a 2xx
// answer, 1 otherwise: the image's Docker HEALTHCHECK. A URL that is only
// a path ("/healthz") means http://127.0.0.1:$PORT/healthz.
//
// With -loop URL it is a client instead: it requests URL every 10 ms
// (-every) from a keep-alive and a new-connection client until SIGTERM,
// then prints "loop: total N failed M" (to count failed requests from
// inside a Docker network).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// defaultMessage is the body of "/" when MESSAGE is unset; images override
// it at link time (-X main.defaultMessage=...).
var defaultMessage = "hello"

func main() {
	healthcheck := flag.String("healthcheck", "", "fetch `URL` once; exit 0 if it answers 2xx, else 1")
	loopURL := flag.String("loop", "", "send a request to `URL` every -every from two clients until SIGTERM, then print the counts")
	every := flag.Duration("every", 10*time.Millisecond, "interval of -loop")
	flag.Parse()
	if *healthcheck != "" {
		os.Exit(check(*healthcheck))
	}
	if *loopURL != "" {
		os.Exit(loop(*loopURL, *every))
	}

	port := envOr("PORT", "8080")
	message := envOr("MESSAGE", defaultMessage)
	failHealth := os.Getenv("FAIL_HEALTH") == "1"
	healthyAt := time.Now()
	if d, err := time.ParseDuration(os.Getenv("HEALTHY_AFTER")); err == nil {
		healthyAt = healthyAt.Add(d)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if failHealth {
			http.Error(w, "unhealthy", http.StatusInternalServerError)
			return
		}
		if time.Now().Before(healthyAt) {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/call", func(w http.ResponseWriter, r *http.Request) {
		client := &http.Client{Timeout: 5 * time.Second}
		resp, err := client.Get(r.URL.Query().Get("url"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})
	mux.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile(r.URL.Query().Get("path"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Write(b)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, message)
	})

	srv := &http.Server{Addr: ":" + port, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	log.Printf("webapp listening on :%s", port)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}

func check(url string) int {
	if strings.HasPrefix(url, "/") {
		url = "http://127.0.0.1:" + envOr("PORT", "8080") + url
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintln(os.Stderr, resp.Status)
		return 1
	}
	return 0
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
