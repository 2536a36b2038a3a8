package mcpfwd

import (
	"encoding/json"
	"time"
)

// Session describes one session of an HTTP proxy: the C API's session
// object (docs/c-api.md), decoded.
type Session struct {
	ID             string   `json:"id"`
	State          string   `json:"state"` // "starting", "ready", "draining", "closed"
	CreatedMs      int64    `json:"created_ms"`
	LastActivityMs int64    `json:"last_activity_ms"`
	Upstream       Upstream `json:"upstream"`
	ClientToServer Traffic  `json:"client_to_server"`
	ServerToClient Traffic  `json:"server_to_client"`
	InFlight       int64    `json:"in_flight"`
	OpenStreams    int64    `json:"open_streams"`
	Errors         int64    `json:"errors"`
	Dropped        int64    `json:"dropped"`
	// UpstreamExit says how the server process ended, nil while it runs.
	UpstreamExit *string `json:"upstream_exit"`
}

// Upstream is a session's server process.
type Upstream struct {
	Kind string `json:"kind"` // "stdio"
	PID  int    `json:"pid"`
}

// Traffic counts forwarded messages one way.
type Traffic struct {
	Messages int64 `json:"messages"`
	Bytes    int64 `json:"bytes"`
}

// Created is when the session was created.
func (s Session) Created() time.Time { return time.UnixMilli(s.CreatedMs) }

// LastActivity is when the session last forwarded something.
func (s Session) LastActivity() time.Time { return time.UnixMilli(s.LastActivityMs) }

func parseSessions(text string) ([]Session, error) {
	var out []Session
	if err := json.Unmarshal([]byte(text), &out); err != nil {
		return nil, &Error{Status: int(StatusInternal), Message: "bad session list JSON: " + err.Error()}
	}
	if out == nil {
		out = []Session{}
	}
	return out, nil
}

func parseSession(text string) (Session, error) {
	var out Session
	if err := json.Unmarshal([]byte(text), &out); err != nil {
		return Session{}, &Error{Status: int(StatusInternal), Message: "bad session JSON: " + err.Error()}
	}
	return out, nil
}
