package devissuer

import (
	"net/http/httptest"
	"testing"
)

// ServeTest serves an issuer signing with key on 127.0.0.1 until the test
// ends, and returns it with its server (whose Client reaches it).
func ServeTest(t testing.TB, key Key) (*Issuer, *httptest.Server) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	iss := New("http://"+srv.Listener.Addr().String(), key)
	srv.Config.Handler = iss.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	return iss, srv
}
