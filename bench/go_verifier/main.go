// A forward-auth verifier written with Go's standard library only: the reference that
// bench/versus_go.py measures mcp-gatekeeper's /authenticate against on the same core.
//
// It does what /authenticate does for a token: three base64url segments, RS256 over the first
// two with the key the kid names (from a JWKS file), JSON claims, exp and aud checked, the
// verified token cached by its SHA-256 until exp (off with -cache=false), identity headers on
// 200, 401 otherwise.
package main

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

type jwks struct {
	Keys []struct {
		Kid string `json:"kid"`
		N   string `json:"n"`
		E   string `json:"e"`
	} `json:"keys"`
}

type claims struct {
	Sub   string   `json:"sub"`
	Email string   `json:"email"`
	Aud   string   `json:"aud"`
	Exp   float64  `json:"exp"`
	Scope string   `json:"scope"`
	Group []string `json:"groups"`
}

type verifier struct {
	keys     map[string]*rsa.PublicKey
	audience string
	useCache bool
	mu       sync.RWMutex
	cache    map[[32]byte]*claims
}

func (v *verifier) verify(token string) (*claims, bool) {
	sum := sha256.Sum256([]byte(token))
	if v.useCache {
		v.mu.RLock()
		c, ok := v.cache[sum]
		v.mu.RUnlock()
		if ok && float64(time.Now().Unix()) < c.Exp {
			return c, true
		}
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, false
	}
	header, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, false
	}
	var h struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if json.Unmarshal(header, &h) != nil || h.Alg != "RS256" {
		return nil, false
	}
	key, ok := v.keys[h.Kid]
	if !ok {
		return nil, false
	}
	signature, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, false
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], signature) != nil {
		return nil, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, false
	}
	c := &claims{}
	if json.Unmarshal(payload, c) != nil || c.Aud != v.audience {
		return nil, false
	}
	if float64(time.Now().Unix()) >= c.Exp {
		return nil, false
	}
	if v.useCache {
		v.mu.Lock()
		v.cache[sum] = c
		v.mu.Unlock()
	}
	return c, true
}

func (v *verifier) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "Bearer ") {
		w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="x"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	c, ok := v.verify(auth[len("Bearer "):])
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.Header().Set("X-Auth-Request-User", c.Sub)
	w.Header().Set("X-Auth-Request-Email", c.Email)
	w.Header().Set("X-Auth-Request-Groups", strings.Join(c.Group, ","))
	w.Header().Set("X-Auth-Request-Scopes", c.Scope)
	w.WriteHeader(http.StatusOK)
}

func loadKeys(path string) map[string]*rsa.PublicKey {
	raw, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	var set jwks
	if err := json.Unmarshal(raw, &set); err != nil {
		log.Fatal(err)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err1 != nil || err2 != nil {
			log.Fatal("bad key in JWKS")
		}
		keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	return keys
}

func main() {
	jwksPath := flag.String("jwks", "", "JWKS file with the verification keys")
	audience := flag.String("aud", "", "the audience a token must name")
	useCache := flag.Bool("cache", true, "cache verified tokens until exp")
	flag.Parse()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", listener.Addr())
	v := &verifier{keys: loadKeys(*jwksPath), audience: *audience, useCache: *useCache, cache: map[[32]byte]*claims{}}
	log.Fatal(http.Serve(listener, v))
}
