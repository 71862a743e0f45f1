// warcvalidate: WARC files checked with gowarc (github.com/nlnwa/gowarc/v3, the library
// behind warchaeology's `warc validate`), one JSON line per file.
//
// gowarc parses each record's header against the WARC 1.0/1.1 field definitions (which
// fields each record type may carry), checks Content-Length, and recomputes
// WARC-Block-Digest and, for HTTP request/response and resource records, WARC-Payload-Digest
// (md5, sha1, sha256, sha512; base16/base32/base64 told apart by length). It never checks a
// revisit's payload digest: that is the digest of another record's payload. Printed:
//   {"file", "tool", "records", "block_digests", "payload_digests", "findings", "warnings", "fatal"}
// block_digests / payload_digests count the digests gowarc recomputed and compared.
// Exit 0: no findings anywhere; 1: findings; 2: a file could not be read.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/nlnwa/gowarc/v3"
)

type report struct {
	File     string   `json:"file"`
	Tool     string   `json:"tool"`
	Records  int      `json:"records"`
	Blocks   int      `json:"block_digests"`
	Payloads int      `json:"payload_digests"`
	Findings []string `json:"findings"`
	Warnings []string `json:"warnings"`
	Fatal    *string  `json:"fatal"`
}

func version() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/nlnwa/gowarc/v3" {
				return "gowarc " + dep.Version
			}
		}
	}
	return "gowarc"
}

func check(path, tool string) report {
	out := report{File: path, Tool: tool, Findings: []string{}, Warnings: []string{}}
	fail := func(err error) report {
		text := err.Error()
		out.Fatal = &text
		return out
	}
	reader, err := gowarc.NewWarcFileReader(path, 0,
		gowarc.WithSyntaxErrorPolicy(gowarc.ErrWarn),
		gowarc.WithSpecViolationPolicy(gowarc.ErrWarn), // also what turns digest checks on
		gowarc.WithUnknownRecordTypePolicy(gowarc.ErrWarn),
		gowarc.WithBlockErrorPolicy(gowarc.ErrWarn))
	if err != nil {
		return fail(err)
	}
	defer reader.Close()
	for rec, err := range reader.Records() {
		if err != nil {
			return fail(fmt.Errorf("offset %d: %w", rec.Offset, err))
		}
		out.Records++
		wr := rec.WarcRecord
		header := wr.WarcHeader()
		if header.Has(gowarc.WarcBlockDigest) {
			out.Blocks++
		}
		if header.Has(gowarc.WarcPayloadDigest) && wr.Type() != gowarc.Revisit &&
			!header.Has(gowarc.WarcSegmentNumber) {
			switch wr.Block().(type) {
			case gowarc.HttpRequestBlock, gowarc.HttpResponseBlock:
				out.Payloads++
			default:
				if wr.Type() == gowarc.Resource {
					out.Payloads++
				}
			}
		}
		where := fmt.Sprintf("offset %d %s %s: ", rec.Offset, wr.Type(), header.Get(gowarc.WarcTargetURI))
		for _, finding := range rec.Validation {
			out.Findings = append(out.Findings, where+finding.Error())
		}
		if err := rec.Close(); err != nil {
			return fail(fmt.Errorf("offset %d: %w", rec.Offset, err))
		}
	}
	return out
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: warcvalidate FILE.warc[.gz]...")
		os.Exit(2)
	}
	exit, tool := 0, version()
	encoder := json.NewEncoder(os.Stdout)
	for _, path := range os.Args[1:] {
		r := check(path, tool)
		if err := encoder.Encode(r); err != nil {
			os.Exit(2)
		}
		if r.Fatal != nil {
			exit = 2
		} else if len(r.Findings) > 0 && exit == 0 {
			exit = 1
		}
	}
	os.Exit(exit)
}
