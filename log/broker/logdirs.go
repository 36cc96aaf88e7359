package broker

import (
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/log/wire"
)

// handleDescribeLogDirs reports the one log directory with each partition's
// size on disk, so admin tools can show topic sizes.
func (c *conn) handleDescribeLogDirs(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.DescribeLogDirsRequest)
	b := c.b
	resp := kmsg.NewPtrDescribeLogDirsResponse()
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir, _ = filepath.Abs(b.cfg.DataDir)
	var st unix.Statfs_t
	if err := unix.Statfs(b.cfg.DataDir, &st); err == nil {
		dir.TotalBytes = int64(st.Blocks) * int64(st.Bsize)
		dir.UsableBytes = int64(st.Bavail) * int64(st.Bsize)
	} else {
		dir.TotalBytes, dir.UsableBytes = -1, -1
	}
	add := func(t *topic, want []int32) {
		dt := kmsg.NewDescribeLogDirsResponseDirTopic()
		dt.Topic = t.name
		b.topics.mu.RLock()
		parts := t.parts
		b.topics.mu.RUnlock()
		for _, p := range parts {
			if want != nil && !containsInt32(want, p.index) || p.offline != nil {
				continue
			}
			dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			dp.Partition, dp.Size = p.index, p.log.Size()
			dt.Partitions = append(dt.Partitions, dp)
		}
		if len(dt.Partitions) > 0 {
			dir.Topics = append(dir.Topics, dt)
		}
	}
	if req.Topics == nil {
		for _, t := range b.topics.list() {
			add(t, nil)
		}
	} else {
		for _, rt := range req.Topics {
			if t := b.topics.get(rt.Topic); t != nil {
				add(t, rt.Partitions)
			}
		}
	}
	resp.Dirs = append(resp.Dirs, dir)
	return resp, nil
}

func containsInt32(xs []int32, x int32) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
