// Command demo is the quickstart's sample app: "/" answers $MESSAGE,
// "/healthz" answers ok, and `demo -healthcheck URL` exits 0 when URL
// answers 2xx (the container's health check, in an image with no shell).
// The quickstart builds it, statically linked, into a FROM-scratch image
// when that image is missing; it uses the standard library only.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	healthcheck := flag.String("healthcheck", "", "fetch `URL` once; exit 0 if it answers 2xx")
	flag.Parse()
	if *healthcheck != "" {
		c := &http.Client{Timeout: 3 * time.Second}
		resp, err := c.Get(*healthcheck)
		if err != nil || resp.StatusCode/100 != 2 {
			fmt.Fprintln(os.Stderr, "unhealthy:", err)
			os.Exit(1)
		}
		return
	}
	msg := os.Getenv("MESSAGE")
	if msg == "" {
		msg = "hello"
	}
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, msg) })
	log.Printf("demo listening on :8080")
	log.Fatal(http.ListenAndServe(":8080", nil))
}
