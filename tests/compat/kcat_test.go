package compat

import (
	"os/exec"
	"strconv"
	"testing"

	"github.com/sluicehq/sluice/internal/brokertest"
)

// kcatClient is kcat (librdkafka's command-line client). kcat cannot create
// topics, so the topic comes from `sluice topic create`; kcat produces with
// keys (-K :) and consumes as a balanced group member (-G), committing
// through librdkafka's auto-commit, which commits the final offsets when
// kcat leaves the group on SIGTERM.
func kcatClient(bin string) client {
	common := func(addr string) []string {
		return []string{"-b", addr, "-X", "broker.address.family=v4"}
	}
	return client{
		createTopic: func(t *testing.T, addr string, s *scenario) {
			runTool(t, "", brokertest.Binary(t), "topic", "create", s.topic, "-p", strconv.Itoa(partitions), "--brokers", addr)
		},
		produce: func(t *testing.T, addr string, s *scenario, records []kv) {
			args := append(common(addr), "-P", "-t", s.topic, "-K", ":", "-X", "acks=all", "-X", "enable.idempotence=true")
			runTool(t, lines(records), bin, args...)
		},
		startMember: func(t *testing.T, addr string, s *scenario, c *collector, id int) member {
			args := append(common(addr), "-G", s.group, "-q", "-u", "-f", "%k:%s\n",
				"-X", "auto.offset.reset=earliest",
				"-X", "session.timeout.ms=6000",
				"-X", "heartbeat.interval.ms=500",
				"-X", "auto.commit.interval.ms=500",
				s.topic)
			return startProc(t, "kcat", id, c, exec.Command(bin, args...))
		},
	}
}

func TestKcat(t *testing.T) {
	bin, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not installed (Debian package kcat): " + err.Error())
	}
	runScenario(t, "kcat", kcatClient(bin))
}
