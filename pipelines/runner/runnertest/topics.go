package runnertest

import (
	"context"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func kadmTopics(ctx context.Context, cl *kgo.Client, topics []string) (bool, error) {
	td, err := kadm.NewClient(cl).ListTopics(ctx, topics...)
	if err != nil {
		return false, err
	}
	for _, t := range topics {
		d, ok := td[t]
		if !ok || d.Err != nil || len(d.Partitions) == 0 {
			return false, nil
		}
	}
	return true, nil
}
