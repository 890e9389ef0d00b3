// memberlist-peer: one HashiCorp memberlist node (DefaultLANConfig, encrypted) for bench/gossip.sh, which runs
// it on a namespace board beside hcagent and reads its membership events from stdout, one per line:
//
//	<unix nanoseconds> start|ready|alive|gone <node name>
//
// start: before the memberlist is created; ready: once it has joined (or failed to).
// memberlist reports a dead and a left member through the same callback; the benchmark never stops a node
// gracefully, so "gone" is a death there.
package main

import (
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/memberlist"
)

// events prints each membership change with the time it was delivered.
type events struct {
	self string
	mu   sync.Mutex
}

func (e *events) print(kind, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fmt.Printf("%d %s %s\n", time.Now().UnixNano(), kind, name)
}

func (e *events) NotifyJoin(n *memberlist.Node) {
	if n.Name != e.self {
		e.print("alive", n.Name)
	}
}
func (e *events) NotifyLeave(n *memberlist.Node)  { e.print("gone", n.Name) }
func (e *events) NotifyUpdate(n *memberlist.Node) {}

func main() {
	name := flag.String("name", "", "node name")
	bind := flag.String("bind", "", "address to bind and advertise")
	port := flag.Int("port", 7946, "UDP and TCP port")
	keyFile := flag.String("key-file", "", "file holding a base64 key of 16, 24 or 32 bytes")
	join := flag.String("join", "", "comma-separated host:port of members to join")
	verbose := flag.Bool("v", false, "memberlist's own log on stderr")
	flag.Parse()

	text, err := os.ReadFile(*keyFile)
	if err != nil {
		log.Fatal(err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(text)))
	if err != nil {
		log.Fatal(err)
	}

	ev := &events{self: *name}
	ev.print("start", *name)
	conf := memberlist.DefaultLANConfig()
	conf.Name = *name
	conf.BindAddr = *bind
	conf.BindPort = *port
	conf.AdvertiseAddr = *bind
	conf.AdvertisePort = *port
	conf.SecretKey = key
	conf.Events = ev
	if !*verbose {
		conf.LogOutput = io.Discard
	}

	list, err := memberlist.Create(conf)
	if err != nil {
		log.Fatal(err)
	}
	if *join != "" {
		if _, err := list.Join(strings.Split(*join, ",")); err != nil {
			log.Printf("join: %v", err)
		}
	}
	ev.print("ready", *name)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	list.Leave(time.Second)
	list.Shutdown()
}
