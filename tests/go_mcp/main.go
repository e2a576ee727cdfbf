// A small MCP server (Streamable HTTP, JSON responses, initialize handshake) that decodes
// requests exactly as Go MCP servers do: encoding/json into plain structs. Go matches object
// keys to fields case-insensitively (Unicode simple folding: "NAME" hits Name, "param\u017f" with
// a long s hits Params) and lets the last duplicate win, so it can read a different request than a
// Python gateway that checked the same bytes. The tests put it behind the gatekeeper to prove
// that such bodies are refused before they get here. It checks no Authorization: the gateway in
// front does.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
)

const latestVersion = "2025-11-25"

var knownVersions = map[string]bool{"2025-11-25": true, "2025-06-18": true, "2025-03-26": true}

// Field names without tags on purpose: this is how the matching of real servers is reached.
type request struct {
	JSONRPC string
	ID      json.RawMessage
	Method  string
	Params  json.RawMessage
}

type callParams struct {
	Name      string
	Arguments map[string]any
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  any             `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

type tool struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	InputSchema map[string]any `json:"inputSchema"`
}

var tools = []tool{
	{"read_rows", "Read rows of a table", schema(map[string]any{"table": str})},
	{"write_rows", "Write rows to a table", schema(map[string]any{
		"table": str,
		"rows":  map[string]any{"type": "array", "items": map[string]any{"type": "object"}},
	})},
}

var str = map[string]any{"type": "string"}

var scopesMeta = map[string]any{"scopes": []map[string]any{
	{"name": "rows:read", "description": "Read rows", "tools": []string{"read_rows"}},
	{"name": "rows:write", "description": "Write rows", "tools": []string{"write_rows"}},
}}

func schema(properties map[string]any) map[string]any {
	return map[string]any{"type": "object", "properties": properties}
}

type server struct {
	mu    sync.Mutex
	calls []string
}

// handle answers one JSON-RPC message; nil means no answer (a notification).
func (s *server) handle(raw json.RawMessage, w http.ResponseWriter) *response {
	var req request
	if err := json.Unmarshal(raw, &req); err != nil {
		return &response{JSONRPC: "2.0", ID: json.RawMessage("null"),
			Error: &rpcError{-32600, "invalid request: " + err.Error()}}
	}
	if len(req.ID) == 0 {
		return nil
	}
	resp := &response{JSONRPC: "2.0", ID: req.ID}
	switch req.Method {
	case "initialize":
		var p struct{ ProtocolVersion string }
		_ = json.Unmarshal(req.Params, &p)
		version := latestVersion
		if knownVersions[p.ProtocolVersion] {
			version = p.ProtocolVersion
		}
		w.Header().Set("Mcp-Session-Id", "go-mcp-session")
		resp.Result = map[string]any{
			"protocolVersion": version,
			"capabilities":    map[string]any{"tools": map[string]any{}},
			"serverInfo":      map[string]any{"name": "go-mcp", "version": "1.0.0"},
		}
	case "ping":
		resp.Result = map[string]any{}
	case "tools/list":
		resp.Result = map[string]any{"tools": tools, "_meta": scopesMeta}
	case "tools/call":
		var p callParams
		if err := json.Unmarshal(req.Params, &p); err != nil || !knownTool(p.Name) {
			resp.Error = &rpcError{-32602, fmt.Sprintf("unknown tool: %q", p.Name)}
			break
		}
		s.mu.Lock()
		s.calls = append(s.calls, p.Name)
		s.mu.Unlock()
		resp.Result = map[string]any{
			"content": []map[string]any{{"type": "text", "text": "executed " + p.Name}},
			"isError": false,
		}
	default:
		resp.Error = &rpcError{-32601, "method not found: " + req.Method}
	}
	return resp
}

func knownTool(name string) bool {
	for _, t := range tools {
		if t.Name == name {
			return true
		}
	}
	return false
}

func (s *server) mcp(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodDelete:
		w.WriteHeader(http.StatusOK)
		return
	case http.MethodPost:
	default:
		// No server-to-client stream: GET is allowed to say so with 405.
		w.Header().Set("Allow", "POST, DELETE")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		s.batch(trimmed, w)
		return
	}
	if !json.Valid(body) {
		writeJSON(w, http.StatusBadRequest, response{JSONRPC: "2.0", ID: json.RawMessage("null"),
			Error: &rpcError{-32700, "parse error"}})
		return
	}
	if resp := s.handle(body, w); resp != nil {
		writeJSON(w, http.StatusOK, resp)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// batch serves a JSON array of messages, which the 2025-03-26 revision allowed.
func (s *server) batch(body []byte, w http.ResponseWriter) {
	var items []json.RawMessage
	if err := json.Unmarshal(body, &items); err != nil {
		writeJSON(w, http.StatusBadRequest, response{JSONRPC: "2.0", ID: json.RawMessage("null"),
			Error: &rpcError{-32700, "parse error"}})
		return
	}
	if len(items) == 0 {
		writeJSON(w, http.StatusBadRequest, response{JSONRPC: "2.0", ID: json.RawMessage("null"),
			Error: &rpcError{-32600, "empty batch"}})
		return
	}
	answers := []*response{}
	for _, item := range items {
		if resp := s.handle(item, w); resp != nil {
			answers = append(answers, resp)
		}
	}
	if len(answers) == 0 {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	writeJSON(w, http.StatusOK, answers)
}

func (s *server) callsHandler(w http.ResponseWriter, r *http.Request) {
	if !allowOnly(w, r, http.MethodGet) {
		return
	}
	s.mu.Lock()
	calls := append([]string{}, s.calls...)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, calls)
}

func (s *server) resetHandler(w http.ResponseWriter, r *http.Request) {
	if !allowOnly(w, r, http.MethodPost) {
		return
	}
	s.mu.Lock()
	s.calls = nil
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// allowOnly answers 405 to any other method.
func allowOnly(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method != method {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address; port 0 picks a free one")
	flag.Parse()
	s := &server{}
	mux := http.NewServeMux()
	mux.HandleFunc("/mcp", s.mcp)
	mux.HandleFunc("/calls", s.callsHandler)
	mux.HandleFunc("/calls/reset", s.resetHandler)
	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	// The first stdout line is how a caller that passed port 0 learns the port; stdout is
	// unbuffered, so it is out before the first request can be served.
	fmt.Printf("listening on %s\n", listener.Addr())
	log.Fatal(http.Serve(listener, mux))
}
