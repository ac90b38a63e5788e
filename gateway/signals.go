package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"runtime/debug"
	"sync"
	"time"

	"github.com/easgate/easgate/statecache"
)

// Several nodes may serve one phone, each request landing wherever the
// balancer sends it, while a phone's waiting request (a Ping or a hanging
// Sync) is parked on the node that received it. What must reach that wait
// travels as a signal: the device's next request ends it (a phone waits in
// at most one request), and an administrator's wipe, block, resync or rule,
// or the user's choice of folders, ends it with what the device must do
// next. Every node applies a signal to its own waiters at once and
// publishes it on the Bus for the others. Changes in a store do not travel
// this way: the node holding the wait watches the store itself.

// Bus carries the gateway's signals to every node that shares one state
// store. A message is a short string that Publish sends to every
// subscriber of every node, the publisher's own included, and Subscribe
// delivers in the order each publisher sent them. Nil (Options.Bus) means
// one node: signals stay in the process.
type Bus interface {
	// Publish sends msg to every subscriber. It returns once the message
	// is on its way (for PostgreSQL, once NOTIFY committed).
	Publish(ctx context.Context, msg string) error
	// Subscribe calls deliver with each message, one at a time, until ctx
	// ends, and then returns. It calls lost when messages may have been
	// missed (the connection to the bus broke and was made again), so
	// that the subscriber can assume whatever they could have said.
	Subscribe(ctx context.Context, deliver func(msg string), lost func()) error
}

// AccountLocker serialises work on one account across the nodes that share
// one state store: the Syncs of a phone, so that a phone that resends
// while its first request runs on another node gets the same window, not
// a second copy of its own Adds. A lock must die with the node holding it.
// Nil (Options.Locks) means one node: the in-process lock alone.
type AccountLocker interface {
	// LockAccount blocks until it holds key's lock or ctx ends. The
	// returned unlock may be called more than once.
	LockAccount(ctx context.Context, key string) (unlock func(), err error)
}

// signalKind says what a signal asks of the waits it reaches.
type signalKind string

const (
	signalRequest signalKind = "request" // the device sent a new request: errSuperseded
	signalAdmin   signalKind = "admin"   // the device's state changed (wipe, block, resync): errAdminAction
	signalFolders signalKind = "folders" // the user chose other folders: errFoldersChosen
	signalAll     signalKind = "all"     // an access rule changed, which may match any device: errAdminAction
)

// signal is one message on the Bus. An admin signal names the device only
// (every user of it); an all signal names nothing.
type signal struct {
	Node   string     `json:"n"`
	Kind   signalKind `json:"k"`
	User   string     `json:"u,omitempty"`
	Device string     `json:"d,omitempty"`
}

// signalTimeout bounds publishing one signal, so that a bus that is down
// delays a request by at most this.
const signalTimeout = 2 * time.Second

// signals is the Server's side of the Bus.
type signals struct {
	bus  Bus
	node string // this node's random id: its own messages come back
}

func newSignals(bus Bus) signals {
	var b [8]byte
	rand.Read(b[:])
	return signals{bus: bus, node: hex.EncodeToString(b[:])}
}

// signal ends the matching waits on this node and publishes sig to the
// other nodes.
func (s *Server) signal(ctx context.Context, sig signal) {
	s.applySignal(sig)
	if s.signals.bus == nil {
		return
	}
	sig.Node = s.signals.node
	msg, err := json.Marshal(sig)
	if err != nil {
		return // strings only: cannot fail
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), signalTimeout)
	defer cancel()
	if err := s.signals.bus.Publish(ctx, string(msg)); err != nil {
		s.metrics.CountSignal("publish_error")
		s.log.WarnContext(ctx, "publishing a signal to the other nodes", "kind", string(sig.Kind), "device_id", sig.Device, "err", err)
		return
	}
	s.metrics.CountSignal("published")
}

// applySignal ends this node's waits that sig reaches.
func (s *Server) applySignal(sig signal) {
	a := statecache.Account{User: sig.User, Device: sig.Device}
	switch sig.Kind {
	case signalRequest:
		s.waiters.end(a)
	case signalFolders:
		s.waiters.endCause(a, errFoldersChosen)
	case signalAdmin:
		s.waiters.endWhere(func(w statecache.Account) bool { return w.Device == sig.Device }, errAdminAction)
	case signalAll:
		s.waiters.endWhere(func(statecache.Account) bool { return true }, errAdminAction)
	}
}

// subscribe applies the other nodes' signals until ctx ends, subscribing
// again when the Bus returns early. When signals may have been lost, every
// wait on this node ends as if superseded: its phone asks again at once,
// and whatever the lost signal said is read from the shared state then.
func (s *Server) subscribe(ctx context.Context) {
	deliver := func(msg string) {
		var sig signal
		if err := json.Unmarshal([]byte(msg), &sig); err != nil || sig.Node == "" {
			s.log.Warn("a signal from another node that is not one", "msg", msg)
			return
		}
		if sig.Node == s.signals.node {
			return
		}
		s.metrics.CountSignal("received")
		s.applySignal(sig)
	}
	lost := func() {
		s.metrics.CountSignal("lost")
		s.waiters.endWhere(func(statecache.Account) bool { return true }, errSuperseded)
	}
	for ctx.Err() == nil {
		err := func() (err error) {
			defer func() {
				if v := recover(); v != nil {
					s.log.Error("signal subscriber panic", "panic", v, "stack", string(debug.Stack()))
				}
			}()
			return s.signals.bus.Subscribe(ctx, deliver, lost)
		}()
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("signal subscription ended; subscribing again", "err", err)
		lost()
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// LocalBus is a Bus within one process, for several Servers that share a
// state store there (tests, and the demo of a cluster in one process).
type LocalBus struct {
	mu   sync.Mutex
	next int
	subs map[int]chan string
}

// localBusQueue bounds what a LocalBus subscriber may fall behind; past
// it, it is told it lost messages.
const localBusQueue = 1024

// Publish delivers msg to every subscriber.
func (b *LocalBus) Publish(ctx context.Context, msg string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, ch := range b.subs {
		select {
		case ch <- msg:
		default:
			close(ch) // its Subscribe reports the loss and returns
			delete(b.subs, id)
		}
	}
	return nil
}

// Subscribe delivers messages until ctx ends. A subscriber that falls more
// than localBusQueue messages behind is told so by lost, and Subscribe
// returns.
func (b *LocalBus) Subscribe(ctx context.Context, deliver func(string), lost func()) error {
	ch := make(chan string, localBusQueue)
	b.mu.Lock()
	if b.subs == nil {
		b.subs = make(map[int]chan string)
	}
	id := b.next
	b.next++
	b.subs[id] = ch
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		if b.subs[id] == ch {
			delete(b.subs, id)
		}
		b.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case msg, ok := <-ch:
			if !ok {
				lost()
				return nil
			}
			deliver(msg)
		}
	}
}

var _ Bus = (*LocalBus)(nil)

// lockAccount takes a's in-process lock and then, with several nodes, its
// cluster-wide one: one Sync of an account at a time across the nodes.
func (s *Server) lockAccount(ctx context.Context, a statecache.Account) (unlock func(), err error) {
	unlockLocal := s.syncLocks.lock(a)
	if s.locks == nil {
		return unlockLocal, nil
	}
	unlockCluster, err := s.locks.LockAccount(ctx, a.User+"\x00"+a.Device)
	if err != nil {
		unlockLocal()
		return nil, err
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			unlockCluster()
			unlockLocal()
		})
	}, nil
}
