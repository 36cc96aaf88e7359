package runner

// The built-in connectors register themselves with the connectors SDK;
// importing them here makes them available to pipeline files (and to
// their lint) wherever pipelines run.
import (
	_ "github.com/sluicehq/sluice/connectors/file"
	_ "github.com/sluicehq/sluice/connectors/httpsrc"
	_ "github.com/sluicehq/sluice/connectors/mqtt"
	_ "github.com/sluicehq/sluice/connectors/parquet"
	_ "github.com/sluicehq/sluice/connectors/postgres"
)
