package main

import (
	"flag"
	"os"

	"github.com/ferryhq/ferry/destination"
)

// proxyFlags are the flags of -to proxy, which deploys ferry's reverse
// proxy (destination.Proxy) instead of an app, and takes no spec file:
//
//	deploy -to proxy [-image ref] [-acme-email addr] [-acme-ca URL]
//	       [-acme-ca-root FILE] [-http-port N] [-https-port N]
//	       [-proxy-name name] [flags] user@host
//
// -proxy-name also tells -to docker which proxy routes the app's domains.
func proxyFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.proxyImage, "image", "", "with -to proxy: the Caddy image `ref` (default "+destination.DefaultProxyImage+")")
	fs.StringVar(&c.acmeEmail, "acme-email", "", "with -to proxy: the ACME (Let's Encrypt) account's e-mail `addr`")
	fs.StringVar(&c.acmeCA, "acme-ca", "", "with -to proxy: the ACME directory `URL` (default Let's Encrypt's; its staging directory for trials)")
	fs.StringVar(&c.acmeCARoot, "acme-ca-root", "", "with -to proxy: a PEM `file` with the root of a private ACME server's own certificate")
	fs.IntVar(&c.httpPort, "http-port", 0, "with -to proxy: the host's HTTP `port` (default 80)")
	fs.IntVar(&c.httpsPort, "https-port", 0, "with -to proxy: the host's HTTPS `port` (default 443)")
	fs.StringVar(&c.proxyName, "proxy-name", "", "the proxy's `name`: the one -to proxy deploys, the one that routes a -to docker app's domains (default "+destination.DefaultProxyName+")")
}

// proxyPlan plans the proxy the flags describe.
func (c *config) proxyPlan() (*destination.Plan, error) {
	p := destination.Proxy{Dir: c.dir, Name: c.proxyName, Image: c.proxyImage, ACMEEmail: c.acmeEmail,
		ACMECA: c.acmeCA, HTTPPort: c.httpPort, HTTPSPort: c.httpsPort, Timeout: c.timeout}
	if c.acmeCARoot != "" {
		root, err := os.ReadFile(c.acmeCARoot)
		if err != nil {
			return nil, &usageError{"-acme-ca-root: " + err.Error()}
		}
		p.ACMECARoot = root
	}
	if c.network != "" {
		p.Networks = []string{c.network}
	}
	plan, err := p.Plan()
	if err != nil {
		return nil, &usageError{err.Error()}
	}
	return plan, nil
}
