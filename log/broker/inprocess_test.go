package broker_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestInProcessConcurrentClients drives an in-process broker with concurrent
// producers, a two-member consumer group and admin calls at once. It exists
// to be run with -race (go test -race -run InProcess ./log/broker): the
// integration tests exercise a separate process the race detector cannot
// see into.
func TestInProcessConcurrentClients(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an in-process broker")
	}
	b := startInProcess(t)
	addr := b.Addr()
	adm := kadm.NewClient(newClient(t, addr))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 4, 1, nil, "race"); err != nil {
		t.Fatal(err)
	}
	const perProducer = 500
	var wg sync.WaitGroup
	for p := 0; p < 3; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := newClient(t, addr, kgo.DefaultProduceTopic("race"), kgo.ProducerBatchCompression(kgo.Lz4Compression()))
			for i := 0; i < perProducer; i++ {
				cl.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("p%d-%d", p, i))}, nil)
			}
			if err := cl.Flush(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	for m := 0; m < 2; m++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := newClient(t, addr, kgo.ConsumerGroup("race-g"), kgo.ConsumeTopics("race"),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
			for ctx.Err() == nil {
				pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
				fs := cl.PollFetches(pctx)
				pcancel()
				mu.Lock()
				for _, r := range fs.Records() {
					seen[string(r.Value)] = true
				}
				n := len(seen)
				mu.Unlock()
				if n >= 3*perProducer {
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 20 && ctx.Err() == nil; i++ {
			_, _ = adm.ListEndOffsets(ctx, "race")
			_, _ = adm.DescribeGroups(ctx, "race-g")
			_, _ = adm.DescribeTopicConfigs(ctx, "race")
			time.Sleep(20 * time.Millisecond)
		}
	}()
	wg.Wait()
	if len(seen) != 3*perProducer {
		t.Fatalf("consumed %d distinct records, want %d", len(seen), 3*perProducer)
	}
}
