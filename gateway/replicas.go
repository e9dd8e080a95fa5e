package gateway

import (
	"fmt"
	"strconv"
	"strings"
)

// MinReplicas is store.redis.min_replicas: how many replicas of the Redis
// master must confirm a write before it is acknowledged upstream. The zero
// value is auto.
//
// Auto waits for one replica whenever the master reports any (INFO
// replication), and refuses writes (ErrUnavailable, so 503) when the
// master will not say, rather than acknowledge what a failover could
// lose. A fixed count N never asks: each write waits for N replicas (0:
// none, replication is not waited on at all).
type MinReplicas struct {
	Fixed bool // false: auto
	N     int  // with Fixed, the replicas each write waits for (>= 0)
}

// ReplicasAuto is the default min_replicas, auto.
var ReplicasAuto = MinReplicas{}

// FixedReplicas is a min_replicas of n (n >= 0).
func FixedReplicas(n int) MinReplicas { return MinReplicas{Fixed: true, N: n} }

// ParseMinReplicas reads "auto" or a count >= 0.
func ParseMinReplicas(s string) (MinReplicas, error) {
	s = strings.TrimSpace(s)
	if s == "auto" {
		return ReplicasAuto, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return MinReplicas{}, fmt.Errorf("must be auto or a number of replicas >= 0, got %q", s)
	}
	return FixedReplicas(n), nil
}

// String is the value as the config writes it: "auto" or the count.
func (m MinReplicas) String() string {
	if !m.Fixed {
		return "auto"
	}
	return strconv.Itoa(m.N)
}
