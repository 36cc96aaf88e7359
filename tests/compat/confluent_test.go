package compat

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

// systemPython is the interpreter Debian's python3-confluent-kafka installs
// into (not a pyenv python3 that may come first on PATH).
const systemPython = "/usr/bin/python3"

// confluentScript is confluent_compat.py next to this file.
func confluentScript() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "confluent_compat.py")
}

// confluentClient is confluent-kafka for Python: its AdminClient creates
// the topic, its idempotent Producer writes keyed records, and two Consumer
// processes share the group, committing synchronously before printing.
func confluentClient() client {
	script := confluentScript()
	return client{
		createTopic: func(t *testing.T, addr string, s *scenario) {
			runTool(t, "", systemPython, script, "create", addr, s.topic, strconv.Itoa(partitions))
		},
		produce: func(t *testing.T, addr string, s *scenario, records []kv) {
			runTool(t, lines(records), systemPython, script, "produce", addr, s.topic)
		},
		startMember: func(t *testing.T, addr string, s *scenario, c *collector, id int) member {
			return startProc(t, "confluent-kafka", id, c, exec.Command(systemPython, script, "consume", addr, s.topic, s.group))
		},
	}
}

func TestConfluentKafkaPython(t *testing.T) {
	if out, err := exec.Command(systemPython, "-c", "import confluent_kafka").CombinedOutput(); err != nil {
		t.Skipf("%s with confluent_kafka not available (Debian package python3-confluent-kafka): %v %s", systemPython, err, out)
	}
	runScenario(t, "confluent-kafka", confluentClient())
}
