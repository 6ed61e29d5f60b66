// Command herald-kube-apiserver is a real kube-apiserver (k8s.io/kubernetes/cmd/kube-apiserver/app)
// that can optionally start an embedded etcd server (go.etcd.io/etcd/server/v3/embed) in the same
// process first, so Herald's tests need one binary and no Docker.
//
// Flags of its own (all others are passed to kube-apiserver unchanged):
//
//	--embedded-etcd-dir=DIR          start embedded etcd with its data in DIR and point
//	                                 --etcd-servers at it (unless --etcd-servers is given)
//	--embedded-etcd-client-port=N    loopback client port (0 or absent: pick a free one)
//	--embedded-etcd-peer-port=N      loopback peer port (0 or absent: pick a free one)
//	--embedded-etcd-fsync=true       keep fsync on (default off: --unsafe-no-fsync, for tests)
//
// Without --embedded-etcd-dir it is a plain kube-apiserver.
//
// With HERALD_EXIT_WITH_PARENT=1 in the environment it sends itself SIGTERM when its parent process dies
// (checked every second), so a test runner killed with SIGKILL leaves no orphaned apiserver behind.
package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // for timeZone support in CronJob

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // for JSON log format registration
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // load all the prometheus client-go plugins
	_ "k8s.io/component-base/metrics/prometheus/version"  // for version metric registration
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

const prefix = "--embedded-etcd-"

func main() {
	if os.Getenv("HERALD_EXIT_WITH_PARENT") == "1" {
		go exitWithParent()
	}
	own, rest := splitArgs(os.Args[1:])
	var etcd *embed.Etcd
	if dir, ok := own["dir"]; ok {
		clientPort := portFlag(own, "client-port")
		peerPort := portFlag(own, "peer-port")
		e, clientURL, err := startEtcd(dir, clientPort, peerPort, own["fsync"] == "true")
		if err != nil {
			fmt.Fprintf(os.Stderr, "embedded etcd: %v\n", err)
			os.Exit(1)
		}
		etcd = e
		if !hasFlag(rest, "--etcd-servers") {
			rest = append(rest, "--etcd-servers="+clientURL)
		}
		fmt.Fprintf(os.Stderr, "embedded etcd ready at %s (data dir %s)\n", clientURL, dir)
	}

	command := app.NewAPIServerCommand()
	command.SetArgs(rest)
	code := cli.Run(command)
	if etcd != nil {
		etcd.Close()
	}
	os.Exit(code)
}

func exitWithParent() {
	parent := os.Getppid()
	for range time.Tick(time.Second) {
		if os.Getppid() != parent {
			fmt.Fprintln(os.Stderr, "parent process exited: shutting down")
			_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
			time.Sleep(30 * time.Second)
			os.Exit(1)
		}
	}
}

// splitArgs separates --embedded-etcd-NAME[=VALUE] flags (NAME -> VALUE) from kube-apiserver's.
func splitArgs(args []string) (map[string]string, []string) {
	own := map[string]string{}
	rest := []string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, prefix) {
			rest = append(rest, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(a, prefix), "=")
		if !hasValue && i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
			i++
			value = args[i]
		}
		own[name] = value
	}
	return own, rest
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

func portFlag(own map[string]string, name string) int {
	v, ok := own[name]
	if !ok || v == "" {
		return 0
	}
	p, err := strconv.Atoi(v)
	if err != nil || p < 0 || p > 65535 {
		fmt.Fprintf(os.Stderr, "invalid %s%s=%q\n", prefix, name, v)
		os.Exit(2)
	}
	return p
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startEtcd(dir string, clientPort, peerPort int, fsync bool) (*embed.Etcd, string, error) {
	var err error
	if clientPort == 0 {
		if clientPort, err = freePort(); err != nil {
			return nil, "", err
		}
	}
	if peerPort == 0 {
		if peerPort, err = freePort(); err != nil {
			return nil, "", err
		}
	}
	clientURL := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(clientPort))}
	peerURL := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(peerPort))}

	cfg := embed.NewConfig()
	cfg.Name = "herald-test"
	cfg.Dir = dir
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.UnsafeNoFsync = !fsync
	cfg.LogLevel = "warn"

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, "", err
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, "", err
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, "", fmt.Errorf("not ready after 60s")
	}
	return e, clientURL.String(), nil
}
