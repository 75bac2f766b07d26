package deploy

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"
)

const webConfigFile = "examples/web-config.yml"

// TestExampleWebConfig checks the example against the fields of the
// exporter-toolkit's web configuration (strictly, as the toolkit parses it),
// and that a certificate and key of the names it gives make a usable pair.
func TestExampleWebConfig(t *testing.T) {
	data, err := os.ReadFile(webConfigFile)
	require.NoError(t, err)
	var cfg struct {
		TLS struct {
			CertFile       string `yaml:"cert_file"`
			KeyFile        string `yaml:"key_file"`
			MinVersion     string `yaml:"min_version"`
			ClientAuthType string `yaml:"client_auth_type"`
			ClientCAFile   string `yaml:"client_ca_file"`
		} `yaml:"tls_server_config"`
		HTTP struct {
			Headers map[string]string `yaml:"headers"`
		} `yaml:"http_server_config"`
		Users map[string]string `yaml:"basic_auth_users"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&cfg))
	assert.Equal(t, "TLS12", cfg.TLS.MinVersion)

	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, cfg.TLS.CertFile), filepath.Join(dir, cfg.TLS.KeyFile)
	writeSelfSignedPair(t, certPath, keyPath)
	_, err = tls.LoadX509KeyPair(certPath, keyPath)
	require.NoError(t, err)

	// The comment says the example password is "change-me".
	require.Contains(t, cfg.Users, "prometheus")
	assert.NoError(t, bcrypt.CompareHashAndPassword([]byte(cfg.Users["prometheus"]), []byte("change-me")))
}

func writeSelfSignedPair(t *testing.T, certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "vramfit"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
}
