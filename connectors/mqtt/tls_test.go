package mqtt

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/sluicehq/sluice/connectors"
)

// testPKI writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, as PEM files in dir.
func testPKI(t *testing.T, dir string) (ca, serverCert, serverKey, clientCert, clientKey string) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	writeKey := func(name string, k *ecdsa.PrivateKey) string {
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(name, "EC PRIVATE KEY", der)
	}
	caKey := newKey()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sluice test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, *ecdsa.PrivateKey) {
		k := newKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	sDER, sKey := issue(2, "127.0.0.1", x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")})
	cDER, cKey := issue(3, "device-1", x509.ExtKeyUsageClientAuth, nil)
	return write("ca.pem", "CERTIFICATE", caDER), write("server.pem", "CERTIFICATE", sDER), writeKey("server.key", sKey),
		write("client.pem", "CERTIFICATE", cDER), writeKey("client.key", cKey)
}

// TestMutualTLS: against a Mosquitto that requires client certificates
// (as AWS IoT Core does), the source connects with mqtt.tls.* files and
// receives messages; without a client certificate it cannot connect.
func TestMutualTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts mosquitto")
	}
	dir := t.TempDir()
	// Mosquitto started as root drops to its own user before loading
	// certificates: let it read them.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ca, sCert, sKey, cCert, cKey := testPKI(t, dir)
	m := startMosquittoWith(t, fmt.Sprintf("cafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true\n", ca, sCert, sKey))

	raw := map[string]string{KeyBrokers: "ssl://" + m.addr, KeyTopics: "secure/#", KeyKafkaTopic: "secure",
		KeyClientID: "sluice-tls", KeyTLSCAFile: ca, KeyTLSCertFile: cCert, KeyTLSKeyFile: cKey, KeyConnectTimeout: "5s"}
	cfg, err := Spec.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSource()
	if err := s.Open(context.Background(), connectors.TaskInfo{Connector: "tls"}, cfg, nil); err != nil {
		t.Fatalf("Open with a client certificate: %v\n%s", err, m.out.String())
	}
	defer s.Close(context.Background())

	// Publish over TLS with the same client certificate.
	pair, err := tls.LoadX509KeyPair(cCert, cKey)
	if err != nil {
		t.Fatal(err)
	}
	tc, _ := tlsConfig(ca, "", "")
	tc.Certificates = []tls.Certificate{pair}
	pub := paho.NewClient(paho.NewClientOptions().AddBroker("ssl://" + m.addr).SetClientID("tls-pub").SetTLSConfig(tc))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher: %v", tok.Error())
	}
	defer pub.Disconnect(100)
	if tok := pub.Publish("secure/a", 1, false, `{"n":1}`); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	var got []connectors.Record
	for i := 0; i < 50 && len(got) == 0; i++ {
		got, err = s.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 1 || string(got[0].Value) != `{"n":1}` || string(got[0].Key) != "secure/a" {
		t.Fatalf("records %+v", got)
	}

	// Without the client certificate the broker refuses the connection.
	delete(raw, KeyTLSCertFile)
	delete(raw, KeyTLSKeyFile)
	raw[KeyClientID] = "sluice-tls-nocert"
	cfg, _ = Spec.Parse(raw)
	s2 := NewSource()
	err = s2.Open(context.Background(), connectors.TaskInfo{Connector: "tls"}, cfg, nil)
	s2.Close(context.Background())
	if err == nil || !connectors.IsRetriable(err) {
		t.Fatalf("Open without a client certificate = %v; want a retriable connect error", err)
	}

	// Half a key pair is a config error.
	_, err = tlsConfig(ca, cCert, "")
	if err == nil || !strings.Contains(err.Error(), KeyTLSKeyFile) {
		t.Fatalf("cert without key: %v", err)
	}
}
