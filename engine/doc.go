// Package engine runs stream-processing topologies built with package
// operators: it splits them into sub-topologies, runs one task per
// (sub-topology, partition) inside a consumer group, keeps state in local
// stores backed by changelog topics, and commits at least once.
package engine
