package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"html/template"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"

	"github.com/vramfit/vramfit/collector"
	"github.com/vramfit/vramfit/nvml"
)

const (
	scrapeUser     = "prometheus"
	scrapePassword = "correct horse battery staple"
)

// selfSigned writes a certificate for 127.0.0.1 and its key into dir and
// returns the pool that trusts it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "vramfit test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	certFile, keyFile = filepath.Join(dir, "vramfit.crt"), filepath.Join(dir, "vramfit.key")
	require.NoError(t, os.WriteFile(certFile, certPEM, 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	pool = x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(certPEM))
	return certFile, keyFile, pool
}

// securedServer is `vramfit serve` on loopback behind TLS and basic auth
// from a web config file, with the lifecycle API enabled.
type securedServer struct {
	addr   string
	client *http.Client // trusts the server's certificate
	store  *collector.TargetStore
}

// Stopping it (at the test's cleanup) leaves no goroutine behind.
func startSecured(t *testing.T) *securedServer {
	t.Helper()
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) }) // runs after the server's cleanup below
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte(scrapePassword), bcrypt.MinCost)
	require.NoError(t, err)
	webConfig := filepath.Join(dir, "web-config.yml")
	require.NoError(t, os.WriteFile(webConfig, fmt.Appendf(nil,
		"tls_server_config: {cert_file: %s, key_file: %s}\nbasic_auth_users: {%s: %q}\n",
		certFile, keyFile, scrapeUser, hash), 0o600))
	require.NoError(t, web.Validate(webConfig))

	logger := slog.New(slog.DiscardHandler)
	store := collector.NewTargetStore(exampleTargets, logger)
	_, err = store.Reload()
	require.NoError(t, err)
	fake, err := nvml.OpenFake("dgx-h100")
	require.NoError(t, err)
	addr := freeAddress(t)
	f := testServeFlags()
	f.enableLifecycle = true
	systemd := false
	f.web = &web.FlagConfig{WebListenAddresses: &[]string{addr}, WebSystemdSocket: &systemd, WebConfigFile: &webConfig}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- f.serve(ctx, logger, store, fake, nil) }()

	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}
	s := &securedServer{addr: addr, client: &http.Client{Transport: transport, Timeout: 10 * time.Second}, store: store}
	t.Cleanup(func() {
		cancel()
		assert.Equal(t, 0, <-done)
		transport.CloseIdleConnections()
	})
	require.Eventually(t, func() bool {
		code, _ := s.do(t, http.MethodGet, "/-/healthy", scrapeUser, scrapePassword)
		return code == http.StatusOK
	}, 10*time.Second, 10*time.Millisecond, "the server did not start")
	return s
}

// do sends one request over TLS; an empty user sends no credentials. A
// transport error comes back as status 0 and the error's text.
func (s *securedServer) do(t *testing.T, method, path, user, password string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "https://"+s.addr+path, nil)
	require.NoError(t, err)
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// TLS and basic auth through --web.config.file, end to end on loopback:
// every endpoint, /-/reload included, answers only the right credentials
// over TLS.
func TestWebConfigTLSAndBasicAuth(t *testing.T) {
	s := startSecured(t)

	for _, path := range []string{"/metrics", "/", "/api/v1/targets", "/api/v1/inventory", "/-/healthy", "/-/ready"} {
		code, _ := s.do(t, http.MethodGet, path, "", "")
		assert.Equal(t, http.StatusUnauthorized, code, "%s without credentials", path)
		code, _ = s.do(t, http.MethodGet, path, scrapeUser, "wrong password")
		assert.Equal(t, http.StatusUnauthorized, code, "%s with a wrong password", path)
		code, _ = s.do(t, http.MethodGet, path, "admin", scrapePassword)
		assert.Equal(t, http.StatusUnauthorized, code, "%s as an unknown user", path)
		code, _ = s.do(t, http.MethodGet, path, scrapeUser, scrapePassword)
		assert.Equal(t, http.StatusOK, code, "%s with the right credentials", path)
	}
	code, body := s.do(t, http.MethodGet, "/metrics", scrapeUser, scrapePassword)
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "\nvramfit_target_fits{")

	t.Run("reload behind the same auth", func(t *testing.T) {
		code, _ := s.do(t, http.MethodPost, "/-/reload", "", "")
		assert.Equal(t, http.StatusUnauthorized, code)
		code, _ = s.do(t, http.MethodPost, "/-/reload", scrapeUser, "wrong password")
		assert.Equal(t, http.StatusUnauthorized, code)
		code, _ = s.do(t, http.MethodGet, "/-/reload", scrapeUser, scrapePassword)
		assert.Equal(t, http.StatusMethodNotAllowed, code, "POST only")
		code, body := s.do(t, http.MethodPost, "/-/reload", scrapeUser, scrapePassword)
		assert.Equal(t, http.StatusOK, code)
		assert.Equal(t, "The targets file is unchanged.\n", body)
	})

	t.Run("plain HTTP to the TLS listener", func(t *testing.T) {
		code, body := fetch(t, "http://"+s.addr+"/metrics")
		assert.Equal(t, http.StatusBadRequest, code, "Go's TLS server refuses a plain request")
		assert.NotContains(t, body, "vramfit_")
	})

	t.Run("TLS below 1.2", func(t *testing.T) {
		old := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{
			RootCAs: s.client.Transport.(*http.Transport).TLSClientConfig.RootCAs, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}}}
		resp, err := old.Get("https://" + s.addr + "/-/healthy")
		if resp != nil {
			resp.Body.Close()
		}
		require.Error(t, err, "exporter-toolkit's default min_version is TLS 1.2")
		assert.Contains(t, err.Error(), "protocol version")
	})

	t.Run("a client that does not trust the certificate", func(t *testing.T) {
		stranger := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := stranger.Get("https://" + s.addr + "/-/healthy")
		if resp != nil {
			resp.Body.Close()
		}
		require.Error(t, err)
		assert.Contains(t, err.Error(), "certificate")
	})
}

// hostileName is a GPU or target name an attacker would like a browser to
// run: markup, an event handler, both quotes and an ampersand.
const hostileName = `<img src=x onerror=alert(1)> "q" & 'a' <script>alert(2)</script>`

// hostileHost is the exporter's mux on a GPU and a target both named
// hostileName.
func hostileHost(t *testing.T) http.Handler {
	t.Helper()
	dir := t.TempDir()
	fleet := filepath.Join(dir, "fleet.yml")
	require.NoError(t, os.WriteFile(fleet, fmt.Appendf(nil, "gpus: [{name: %q, memory_total: 24GiB}]\n", hostileName), 0o600))
	targets := filepath.Join(dir, "targets.yml")
	require.NoError(t, os.WriteFile(targets, fmt.Appendf(nil, "targets: [{name: %q, model: {preset: gpt2}}]\n", hostileName), 0o600))
	return testMux(t, testServeFlags(), fleet, targets)
}

// What comes from the targets file or the driver is text on every
// endpoint: escaped on the status page (which also forbids scripts by its
// Content-Security-Policy), escaped in JSON, escaped as the text format
// requires on /metrics; and it reads back unchanged.
func TestEndpointsEscapeNames(t *testing.T) {
	mux := hostileHost(t)

	t.Run("status page", func(t *testing.T) {
		rec := get(t, mux, http.MethodGet, "/")
		require.Equal(t, http.StatusOK, rec.Code)
		body := rec.Body.String()
		assert.NotContains(t, body, "<img")
		assert.NotContains(t, body, "<script")
		assert.GreaterOrEqual(t, strings.Count(body, template.HTMLEscapeString(hostileName)), 2, "the GPU's name and the target's")
		assert.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
		assert.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
		assert.Equal(t, "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
			rec.Header().Get("Content-Security-Policy"))
	})

	for _, path := range []string{"/api/v1/targets", "/api/v1/inventory"} {
		t.Run(path, func(t *testing.T) {
			rec := get(t, mux, http.MethodGet, path)
			require.Equal(t, http.StatusOK, rec.Code)
			assert.NotContains(t, rec.Body.String(), "<", "JSON escapes markup as \\u003c")
			assert.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
			var doc any
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &doc))
			assert.Contains(t, stringsIn(doc), hostileName, "the name reads back as written")
		})
	}

	t.Run("/metrics", func(t *testing.T) {
		rec := get(t, mux, http.MethodGet, "/metrics")
		require.Equal(t, http.StatusOK, rec.Code)
		assert.True(t, strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain;"), "never rendered as HTML")
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(rec.Body)
		require.NoError(t, err)
		labels := map[string]string{}
		for _, family := range []string{"vramfit_gpu_info", "vramfit_target_info"} {
			require.Contains(t, families, family)
			for _, l := range families[family].GetMetric()[0].GetLabel() {
				labels[family+"/"+l.GetName()] = l.GetValue()
			}
		}
		assert.Equal(t, hostileName, labels["vramfit_gpu_info/name"])
		assert.Equal(t, hostileName, labels["vramfit_target_info/target"])
	})
}

// stringsIn lists every string in a decoded JSON document.
func stringsIn(doc any) []string {
	switch v := doc.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, stringsIn(e)...)
		}
		return out
	case map[string]any:
		var out []string
		for _, e := range v {
			out = append(out, stringsIn(e)...)
		}
		return out
	}
	return nil
}

// No endpoint takes a file, a path or a setting from the request: queries,
// forms, bodies and paths that name a secret file change nothing and show
// nothing of it, and /-/reload reloads the file given at start only.
func TestRequestsNameNoFiles(t *testing.T) {
	dir := t.TempDir()
	const secret = "do-not-leak-7f3c"
	secretFile := filepath.Join(dir, "secret.yml")
	require.NoError(t, os.WriteFile(secretFile, []byte("targets: [{name: "+secret+", model: {preset: gpt2}}]\n"), 0o600))
	f := testServeFlags()
	f.enableLifecycle = true
	mux := testMux(t, f, "dgx-h100", exampleTargets)
	escaped := strings.ReplaceAll(secretFile, "/", "%2f")
	for _, target := range []string{
		"/?file=" + secretFile, "/?config.file=" + secretFile,
		"/api/v1/targets?config.file=" + secretFile, "/api/v1/inventory?nvml.fake=" + secretFile,
		"/metrics?config.file=" + secretFile, "/metrics/.." + secretFile, "/.." + escaped, "/api/v1/.." + escaped,
		"/-/reload?config.file=" + secretFile,
	} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			req, err := http.NewRequest(method, "http://vramfit"+target, strings.NewReader("config.file="+secretFile))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptestRecorder(mux, req)
			assert.NotContains(t, rec.Body.String(), secret, "%s %s", method, target)
			assert.NotEqual(t, http.StatusInternalServerError, rec.Code, "%s %s", method, target)
		}
	}
	// The reloads above read deploy/examples/targets.yml, nothing else.
	rec := get(t, mux, http.MethodGet, "/api/v1/targets")
	assert.NotContains(t, rec.Body.String(), secret)
	assert.Contains(t, rec.Body.String(), `"target": "llama-3-8b-chat"`)
}

// The same, by reading the code: no handler of the exporter reads the
// request's URL, query, form, body or path values. A new handler that does
// must come with a test that it cannot be turned into a file read.
func TestHandlersReadNoRequestInput(t *testing.T) {
	forbidden := map[string]bool{"URL": true, "Form": true, "PostForm": true, "MultipartForm": true, "Body": true,
		"FormValue": true, "PostFormValue": true, "FormFile": true, "ParseForm": true, "ParseMultipartForm": true,
		"MultipartReader": true, "PathValue": true, "RequestURI": true}
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	more, err := filepath.Glob("../../collector/*.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	handlers := 0
	for _, path := range append(files, more...) {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, path, nil, 0)
		require.NoError(t, err)
		ast.Inspect(file, func(n ast.Node) bool {
			var typ *ast.FuncType
			var body *ast.BlockStmt
			switch fn := n.(type) {
			case *ast.FuncDecl:
				typ, body = fn.Type, fn.Body
			case *ast.FuncLit:
				typ, body = fn.Type, fn.Body
			default:
				return true
			}
			requests := map[string]bool{}
			for _, field := range typ.Params.List {
				if isRequestPointer(field.Type) {
					handlers++
					for _, name := range field.Names {
						requests[name.Name] = true
					}
				}
			}
			if len(requests) == 0 || body == nil {
				return true
			}
			ast.Inspect(body, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if id, ok := sel.X.(*ast.Ident); ok && requests[id.Name] && forbidden[sel.Sel.Name] {
					t.Errorf("%s: a handler reads %s.%s", fset.Position(sel.Pos()), id.Name, sel.Sel.Name)
				}
				return true
			})
			return true
		})
	}
	// The status page, the two APIs, reload, healthy and ready.
	assert.GreaterOrEqual(t, handlers, 6, "the check found the handlers it reads")
}

func isRequestPointer(e ast.Expr) bool {
	star, ok := e.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	return ok && pkg.Name == "http" && sel.Sel.Name == "Request"
}

// Request heads are bounded (32 KiB), and no endpoint waits for or keeps
// a request body: a POST that announces 1 GiB is answered at once.
func TestRequestSizeBounds(t *testing.T) {
	s := startSecured(t)
	dial := func() *tls.Conn {
		conn, err := tls.Dial("tcp", s.addr, s.client.Transport.(*http.Transport).TLSClientConfig)
		require.NoError(t, err)
		require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
		return conn
	}
	auth := "Authorization: Basic " + basicAuth(scrapeUser, scrapePassword) + "\r\n"

	// The head (request line and headers) is bounded to 32 KiB in all,
	// where net/http alone adds 4 KiB of slack to MaxHeaderBytes.
	for _, tc := range []struct {
		head int
		code int
	}{{32_000, http.StatusOK}, {33_000, http.StatusRequestHeaderFieldsTooLarge}, {64 << 10, http.StatusRequestHeaderFieldsTooLarge}} {
		t.Run(fmt.Sprintf("a head of %d bytes", tc.head), func(t *testing.T) {
			conn := dial()
			defer conn.Close()
			head := fmt.Sprintf("GET /-/healthy HTTP/1.1\r\nHost: vramfit\r\n%sX-Padding: ", auth)
			head += strings.Repeat("a", tc.head-len(head)-len("\r\n\r\n")) + "\r\n\r\n"
			require.Len(t, head, tc.head)
			_, err := io.WriteString(conn, head)
			require.NoError(t, err)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, tc.code, resp.StatusCode)
		})
	}

	t.Run("a body of 1 GiB announced, 64 KiB sent", func(t *testing.T) {
		conn := dial()
		defer conn.Close()
		_, err := fmt.Fprintf(conn, "POST /-/reload HTTP/1.1\r\nHost: vramfit\r\n%sContent-Length: %d\r\n\r\n%s", auth, 1<<30, strings.Repeat("x", 64<<10))
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err, "answered without the rest of the body")
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.True(t, resp.Close, "the connection is closed rather than drained")
	})
}

func httptestRecorder(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func basicAuth(user, password string) string {
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(user, password)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

// A page on another site cannot make a visitor's browser reload the
// agent: a form's POST (a "simple" request, text/plain, no preflight)
// carries the other site's Origin or Sec-Fetch-Site: cross-site, and is
// refused. Clients that are not browsers send neither, and reload.
func TestReloadRefusesCrossSite(t *testing.T) {
	f := testServeFlags()
	f.enableLifecycle = true
	mux := testMux(t, f, "dgx-h100", exampleTargets)
	tests := []struct {
		name    string
		headers map[string]string
		code    int
	}{
		{"a form on another site", map[string]string{"Origin": "https://attacker.example", "Content-Type": "text/plain"}, http.StatusForbidden},
		{"a fetch from another site", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"another site with no Origin sent", map[string]string{"Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
		{"curl", nil, http.StatusOK},
		{"the agent's own origin", map[string]string{"Origin": "http://vramfit:9847", "Sec-Fetch-Site": "same-origin"}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "http://vramfit:9847/-/reload", strings.NewReader("x"))
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			rec := httptestRecorder(mux, req)
			assert.Equal(t, tt.code, rec.Code, rec.Body.String())
		})
	}
}
