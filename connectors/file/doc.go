// Package file holds the file connectors: a source that reads JSON lines,
// CSV or plain text from one file, a glob of files, or a file that keeps
// growing (tail), and a sink that writes JSON lines, CSV or text with
// rotation by size and time.
//
// The source's position is the file's identity (device and inode, so a
// renamed or rotated file is recognised) plus the byte offset after the last
// record, so a restarted connector resumes exactly where it stopped. A
// truncated file is read again from the start.
//
// The sink fsyncs its file and a checkpoint (the file's length and the
// offsets it holds) before reporting offsets durable; on restart it cuts the
// file back to the checkpoint and resumes from the checkpoint's offsets, so a
// crash leaves neither gaps nor duplicates.
package file
