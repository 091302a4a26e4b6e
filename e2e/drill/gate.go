package drill

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// Gate modes: how a region's front is reached.
const (
	GateOpen   = "open"   // connections are relayed
	GateRefuse = "refuse" // nothing listens: connections are refused, open ones are reset
	GateDrop   = "drop"   // packets are dropped: connections hang, nothing is answered
)

// Gate is a TCP relay in front of a region's front (its ALB), so the drill
// can make the whole region unreachable. Open, it relays every connection
// to the target. Refuse closes its listener and every connection through
// it: new connections are refused and requests in flight fail, as when the
// region's load balancer is gone. Drop keeps accepting but passes no byte
// either way, as when the network drops the packets: clients wait until
// their own timeouts. Back to open, the relay listens on the same address
// again, and connections held by Drop carry on (as TCP's retransmissions
// would). The methods are safe for concurrent use.
type Gate struct {
	target string
	addr   string

	mu     sync.Mutex
	mode   string
	ln     net.Listener
	conns  map[net.Conn]struct{} // every open connection, both sides
	change chan struct{}         // closed and replaced at every mode change
	closed bool
}

// StartGate listens on a free 127.0.0.1 port and relays to target
// (host:port). Close stops it.
func StartGate(target string) (*Gate, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("gate: %w", err)
	}
	g := &Gate{target: target, addr: ln.Addr().String(), mode: GateOpen, ln: ln,
		conns: map[net.Conn]struct{}{}, change: make(chan struct{})}
	go g.accept(ln)
	return g, nil
}

// URL is the gate's base URL (http).
func (g *Gate) URL() string { return "http://" + g.addr }

// Mode returns the current mode.
func (g *Gate) Mode() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.mode
}

// Set switches the mode (GateOpen, GateRefuse or GateDrop).
func (g *Gate) Set(mode string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return errors.New("gate: closed")
	}
	switch mode {
	case GateOpen, GateDrop:
		if g.ln == nil {
			// Back from refusing: listen on the same address again.
			ln, err := net.Listen("tcp", g.addr)
			if err != nil {
				return fmt.Errorf("gate: listen again on %s: %w", g.addr, err)
			}
			g.ln = ln
			go g.accept(ln)
		}
	case GateRefuse:
		if g.ln != nil {
			g.ln.Close()
			g.ln = nil
		}
		g.closeConnsLocked()
	default:
		return fmt.Errorf("gate: unknown mode %q (want %s, %s or %s)", mode, GateOpen, GateRefuse, GateDrop)
	}
	g.mode = mode
	close(g.change)
	g.change = make(chan struct{})
	return nil
}

// Close stops the gate and every connection through it.
func (g *Gate) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	if g.ln != nil {
		g.ln.Close()
		g.ln = nil
	}
	g.closeConnsLocked()
	close(g.change)
	g.change = make(chan struct{})
	return nil
}

func (g *Gate) closeConnsLocked() {
	for c := range g.conns {
		c.Close()
	}
	clear(g.conns)
}

func (g *Gate) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return // closed by Set(GateRefuse) or Close
		}
		if !g.track(c) {
			c.Close()
			continue
		}
		go g.relay(c)
	}
}

// track registers c; false when the gate refuses or is closed by now.
func (g *Gate) track(c net.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || g.mode == GateRefuse {
		return false
	}
	g.conns[c] = struct{}{}
	return true
}

func (g *Gate) untrack(c net.Conn) {
	g.mu.Lock()
	delete(g.conns, c)
	g.mu.Unlock()
	c.Close()
}

// pass waits while the gate drops and reports whether c may carry on: false
// once the gate refuses or is closed, or c was closed meanwhile.
func (g *Gate) pass(c net.Conn) bool {
	for {
		g.mu.Lock()
		_, open := g.conns[c]
		mode, change := g.mode, g.change
		g.mu.Unlock()
		if !open || g.isClosed() || mode == GateRefuse {
			return false
		}
		if mode == GateOpen {
			return true
		}
		<-change
	}
}

func (g *Gate) isClosed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed
}

// relay connects c to the target once the gate lets it, then copies both
// ways, each chunk only when the gate lets it through.
func (g *Gate) relay(c net.Conn) {
	defer g.untrack(c)
	if !g.pass(c) {
		return
	}
	up, err := net.Dial("tcp", g.target)
	if err != nil {
		return
	}
	if !g.track(up) {
		up.Close()
		return
	}
	defer g.untrack(up)
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if !g.pass(src) || !g.pass(dst) {
					return
				}
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				if err == io.EOF {
					// Half-close: the other direction may still have an answer.
					if tc, ok := dst.(*net.TCPConn); ok {
						tc.CloseWrite()
						return
					}
				}
				dst.Close()
				src.Close()
				return
			}
		}
	}
	go cp(up, c)
	go cp(c, up)
	<-done
	<-done
}
