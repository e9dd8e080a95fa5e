package deliver

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/hookgate/hookgate/gateway"
)

// clientTLS keeps a subscriber's client certificate and CA pool (its tls
// block) current: the files are looked at (a stat of each) whenever a new
// connection's handshake needs them, and read again when their size or
// modification time changed, so that a renewed certificate or a rotated
// CA written beside the old and renamed over applies to the next
// connection, with no reload and no connection dropped. Connections
// already open keep what they were made with until they close. Files that
// do not load leave the last good ones in use, logged once per change;
// with none loaded yet, the handshake fails and the attempt with it
// (retried as any connection error). As server.tls does for the
// listener (internal/cli certReloader).
type clientTLS struct {
	cfg gateway.ClientTLSConfig
	log *slog.Logger

	mu                   sync.Mutex
	cert                 *tls.Certificate
	pool                 *x509.CertPool
	certStamp, caStamp   string // of the files as loaded
	certFailed, caFailed string // the stamp whose load failed, logged once
	certErr, caErr       error  // why nothing is loaded yet
}

func newClientTLS(name string, cfg gateway.ClientTLSConfig, log *slog.Logger) *clientTLS {
	c := &clientTLS{cfg: cfg, log: log.With("subscriber", name)}
	c.mu.Lock()
	c.refresh()
	c.mu.Unlock()
	return c
}

// config is the transport's tls.Config. With a ca_file, the chain is
// verified in VerifyConnection against the pool current at the handshake
// (as crypto/tls's VerifyConnection example does), since a fixed RootCAs
// could not follow the file; InsecureSkipVerify only turns off the
// built-in check that this one replaces, hostname included.
func (c *clientTLS) config() *tls.Config {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.cfg.CertFile != "" {
		tc.GetClientCertificate = c.clientCertificate
	}
	if c.cfg.CAFile != "" {
		tc.InsecureSkipVerify = true
		tc.VerifyConnection = c.verify
	}
	return tc
}

// clientCertificate is tls.Config.GetClientCertificate.
func (c *clientTLS) clientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refresh()
	if c.cert == nil {
		return nil, fmt.Errorf("client certificate: %w", c.certErr)
	}
	return c.cert, nil
}

// verify is tls.Config.VerifyConnection: the server's chain against the
// ca_file's pool, and its name against the host dialled.
func (c *clientTLS) verify(cs tls.ConnectionState) error {
	c.mu.Lock()
	c.refresh()
	pool, err := c.pool, c.caErr
	c.mu.Unlock()
	if pool == nil {
		return fmt.Errorf("ca_file: %w", err)
	}
	if len(cs.PeerCertificates) == 0 {
		return errors.New("tls: server sent no certificate")
	}
	opts := x509.VerifyOptions{DNSName: cs.ServerName, Roots: pool, Intermediates: x509.NewCertPool()}
	for _, ic := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(ic)
	}
	_, err = cs.PeerCertificates[0].Verify(opts)
	return err
}

// refresh loads the files that changed since they were last loaded.
// c.mu is held.
func (c *clientTLS) refresh() {
	if c.cfg.CertFile != "" {
		if stamp, err := fileStamp(c.cfg.CertFile, c.cfg.KeyFile); err != nil {
			if c.cert == nil {
				c.certErr = err
			}
		} else if stamp != c.certStamp && stamp != c.certFailed {
			cert, err := tls.LoadX509KeyPair(c.cfg.CertFile, c.cfg.KeyFile)
			switch {
			case err != nil:
				c.certFailed, c.certErr = stamp, err
				c.log.Error("tls: the client certificate files changed but do not load; using the previous certificate", "error", err)
			default:
				if c.cert != nil {
					c.log.Info("tls: client certificate reloaded", "cert_file", c.cfg.CertFile)
				}
				c.cert, c.certStamp, c.certFailed, c.certErr = &cert, stamp, "", nil
			}
		}
	}
	if c.cfg.CAFile != "" {
		if stamp, err := fileStamp(c.cfg.CAFile); err != nil {
			if c.pool == nil {
				c.caErr = err
			}
		} else if stamp != c.caStamp && stamp != c.caFailed {
			pool, err := loadCAPool(c.cfg.CAFile)
			switch {
			case err != nil:
				c.caFailed, c.caErr = stamp, err
				c.log.Error("tls: ca_file changed but does not load; using the previous CA", "error", err)
			default:
				if c.pool != nil {
					c.log.Info("tls: ca_file reloaded", "ca_file", c.cfg.CAFile)
				}
				c.pool, c.caStamp, c.caFailed, c.caErr = pool, stamp, "", nil
			}
		}
	}
}

// loadCAPool reads a PEM file of CA certificates; one without any is an
// error (config validation refuses it too).
func loadCAPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", path)
	}
	return pool, nil
}

// fileStamp is the size and modification time of the files: a change to
// either is a change.
func fileStamp(paths ...string) (string, error) {
	var s string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		s += fmt.Sprintf("%d/%d ", fi.Size(), fi.ModTime().UnixNano())
	}
	return s, nil
}
