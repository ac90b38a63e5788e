package main

import "github.com/easgate/easgate/gateway"

// AutodiscoverConfig is the [autodiscover] section. Autodiscover answers
// only when server.external_url is set.
type AutodiscoverConfig struct {
	// Domains are the mail domains answered for; empty: every domain not
	// in Redirect.
	Domains []string `toml:"domains"`
	// Redirect maps a mail domain served elsewhere to the domain to ask
	// instead: { "old.example" = "new.example" }.
	Redirect    map[string]string `toml:"redirect"`
	MaxBodySize int64             `toml:"max_body_size"` // bytes; 0: 64 KiB
}

// autodiscoverOptions returns the gateway's options for [autodiscover].
func (c *Config) autodiscoverOptions() gateway.AutodiscoverOptions {
	a := c.Autodiscover
	o := gateway.AutodiscoverOptions{Domains: a.Domains, Redirect: a.Redirect, MaxBodySize: a.MaxBodySize}
	if len(o.Domains) == 0 {
		o.Domains = nil
	}
	return o
}

// validateAutodiscover checks server.external_url and [autodiscover] the
// way gateway.New will, so that serve fails before listening.
func (c *Config) validateAutodiscover(e *configErrors) {
	if u := c.Server.ExternalURL; u != "" {
		if _, err := gateway.ParseExternalURL(u); err != nil {
			e.add("server.external_url", "%v", err)
		}
	}
	if c.Autodiscover.MaxBodySize < 0 {
		e.add("autodiscover.max_body_size", "%d is negative", c.Autodiscover.MaxBodySize)
	}
	o := c.autodiscoverOptions()
	o.MaxBodySize = 0
	if _, err := gateway.New(&gateway.Options{Autodiscover: o}); err != nil {
		e.add("autodiscover", "%v", err)
	}
}
