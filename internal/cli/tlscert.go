package cli

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certCheckEvery is how often, at most, a handshake looks at the
// certificate files for a renewal.
const certCheckEvery = time.Second

// certReloader serves the certificate and key of server.tls, read again
// when either file changes on disk: a renewal (certbot, cert-manager) that
// writes new files beside the old and renames them over is served to the
// next connection, with no restart and no connection dropped. The files
// are looked at, at most once a second, from a handshake. A pair that does
// not load (a renewal half written, a key that does not match) leaves the
// last good certificate in service and is logged; the next look tries
// again.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string // size and modification time of both files, as loaded
	checked time.Time
	failed  string // the stamp whose load failed, so it is logged once
}

// newCertReloader loads the pair; an error here fails the start.
func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	stamp, err := r.fileStamp()
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	r.cert, r.stamp, r.checked = &cert, stamp, time.Now()
	return r, nil
}

// GetCertificate is tls.Config.GetCertificate.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.checked) >= certCheckEvery {
		r.checked = now
		r.reload()
	}
	return r.cert, nil
}

// reload loads the pair again if the files changed since the last load.
func (r *certReloader) reload() {
	stamp, err := r.fileStamp()
	if err != nil || stamp == r.stamp {
		return // missing mid-rename, or unchanged
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		if stamp != r.failed {
			r.failed = stamp
			r.log.Error("tls: the certificate files changed but do not load; serving the previous certificate", "error", err)
		}
		return
	}
	r.cert, r.stamp, r.failed = &cert, stamp, ""
	r.log.Info("tls: certificate reloaded", "cert_file", r.certFile)
}

func (r *certReloader) fileStamp() (string, error) {
	c, err := os.Stat(r.certFile)
	if err != nil {
		return "", err
	}
	k, err := os.Stat(r.keyFile)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d/%d %d/%d", c.Size(), c.ModTime().UnixNano(), k.Size(), k.ModTime().UnixNano()), nil
}
