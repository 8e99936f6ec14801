// Command trivy-db-gen makes a small Trivy vulnerability DB from a JSON file of
// advisories and pushes it to a registry as the OCI artifact that
// `trivy --db-repository HOST:PORT/REPO` downloads.
//
//	trivy-db-gen generate -input ADVISORIES.json -output DIR
//	trivy-db-gen push -archive DIR/db.tar.gz -registry HOST:PORT -repository trivy/db \
//	    -cacert CA.crt -username USER -password-stdin
//
// generate writes DIR/trivy.db (bbolt), DIR/metadata.json and DIR/db.tar.gz holding both.
// The same input gives the same bytes: every time stamp comes from the input, every
// write happens in sorted order, and the archive carries fixed modes, owners and times.
//
// push uploads db.tar.gz as the single layer of an OCI image manifest, tagged with the DB
// schema version. It does nothing when the tag already points to that exact manifest,
// and it prints a JSON object saying whether it changed the registry. The password is
// read from standard input so that it never shows in a process list.
//
// Only the standard library and bbolt are used, so that Debian's golang-go and
// golang-github-coreos-bbolt-dev build it offline in GOPATH mode.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

const (
	// schemaVersion is the Trivy DB schema this tool writes; Trivy also uses it as the tag.
	schemaVersion = 2

	dbFile       = "trivy.db"
	metadataFile = "metadata.json"
	archiveFile  = "db.tar.gz"

	manifestType = "application/vnd.oci.image.manifest.v1+json"
	configType   = "application/vnd.aquasec.trivy.config.v1+json"
	layerType    = "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip"
	titleKey     = "org.opencontainers.image.title"

	vulnerabilityBucket = "vulnerability"
	dataSourceBucket    = "data-source"
)

// severities maps Trivy's severity names to the numbers its DB stores.
var severities = map[string]int{"UNKNOWN": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}

// input is the advisory data file kept in the repository.
type input struct {
	Comment    string     `json:"comment"`
	UpdatedAt  time.Time  `json:"updated_at"`
	NextUpdate time.Time  `json:"next_update"`
	DataSource dataSource `json:"data_source"`
	Advisories []advisory `json:"advisories"`
}

type dataSource struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	URL  string `json:"url"`
}

type advisory struct {
	ID            string    `json:"id"`
	SourcePackage string    `json:"source_package"`
	Severity      string    `json:"severity"`
	Title         string    `json:"title"`
	Description   string    `json:"description"`
	Published     time.Time `json:"published"`
	// FixedVersions maps a Trivy bucket such as "debian 12" to the first fixed version of
	// the source package there; an empty version means no fix exists yet.
	FixedVersions map[string]string `json:"fixed_versions"`
}

// The value types below mirror what Trivy reads from its DB.

type trivyDataSource struct {
	ID   string `json:"ID"`
	Name string `json:"Name"`
	URL  string `json:"URL"`
}

type trivyAdvisory struct {
	FixedVersion string `json:"FixedVersion"`
}

type trivyVulnerability struct {
	Title            string         `json:"Title"`
	Description      string         `json:"Description"`
	Severity         string         `json:"Severity"`
	VendorSeverity   map[string]int `json:"VendorSeverity"`
	PublishedDate    *time.Time     `json:"PublishedDate,omitempty"`
	LastModifiedDate *time.Time     `json:"LastModifiedDate,omitempty"`
}

type trivyMetadata struct {
	Version      int       `json:"Version"`
	NextUpdate   time.Time `json:"NextUpdate"`
	UpdatedAt    time.Time `json:"UpdatedAt"`
	DownloadedAt time.Time `json:"DownloadedAt"`
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "generate":
		err = generateCommand(os.Args[2:])
	case "push":
		err = pushCommand(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "trivy-db-gen: %v\n", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: trivy-db-gen generate -input FILE -output DIR")
	fmt.Fprintln(os.Stderr, "       trivy-db-gen push -archive FILE -registry HOST:PORT "+
		"-repository REPO -cacert FILE -username USER -password-stdin")
	os.Exit(2)
}

func generateCommand(args []string) error {
	flags := flag.NewFlagSet("generate", flag.ExitOnError)
	inputPath := flags.String("input", "", "advisory data file (JSON)")
	outputDir := flags.String("output", "", "directory for trivy.db, metadata.json and db.tar.gz")
	_ = flags.Parse(args)
	if *inputPath == "" || *outputDir == "" {
		return errors.New("generate needs both -input and -output")
	}

	data, err := readInput(*inputPath)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*outputDir, 0o755); err != nil {
		return fmt.Errorf("cannot create the output directory %s: %v", *outputDir, err)
	}
	// Everything is written to a scratch directory first and renamed into place, so a
	// failed run never leaves a half-written DB where a consumer would take it.
	scratch, err := os.MkdirTemp(*outputDir, ".trivy-db-gen-")
	if err != nil {
		return fmt.Errorf("cannot create a scratch directory in %s: %v", *outputDir, err)
	}
	defer os.RemoveAll(scratch)

	if err := writeDB(filepath.Join(scratch, dbFile), data); err != nil {
		return err
	}
	meta, err := json.Marshal(trivyMetadata{
		Version:    schemaVersion,
		NextUpdate: data.NextUpdate.UTC(),
		UpdatedAt:  data.UpdatedAt.UTC(),
	})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(scratch, metadataFile), meta, 0o644); err != nil {
		return err
	}
	if err := writeArchive(scratch, data.UpdatedAt); err != nil {
		return err
	}
	for _, name := range []string{dbFile, metadataFile, archiveFile} {
		err := os.Rename(filepath.Join(scratch, name), filepath.Join(*outputDir, name))
		if err != nil {
			return fmt.Errorf("cannot move %s into %s: %v", name, *outputDir, err)
		}
	}

	archiveDigest, err := fileDigest(filepath.Join(*outputDir, archiveFile))
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]interface{}{
		"advisories": len(data.Advisories),
		"archive":    filepath.Join(*outputDir, archiveFile),
		"digest":     archiveDigest,
	})
}

// readInput parses and checks the advisory data file.
func readInput(path string) (*input, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the advisory file %s: %v", path, err)
	}
	decoder := json.NewDecoder(bytes.NewReader(raw))
	decoder.DisallowUnknownFields()
	var data input
	if err := decoder.Decode(&data); err != nil {
		return nil, fmt.Errorf("the advisory file %s is not valid: %v", path, err)
	}
	if data.UpdatedAt.IsZero() || data.NextUpdate.IsZero() {
		return nil, fmt.Errorf("the advisory file %s needs updated_at and next_update", path)
	}
	if data.DataSource.ID == "" {
		return nil, fmt.Errorf("the advisory file %s needs data_source.id, such as 'debian'", path)
	}
	seen := map[string]bool{}
	for i, adv := range data.Advisories {
		switch {
		case adv.ID == "" || adv.SourcePackage == "":
			return nil, fmt.Errorf("advisory #%d in %s needs an id and a source_package", i+1, path)
		case seen[adv.ID]:
			return nil, fmt.Errorf("advisory %s appears twice in %s: keep one entry per id",
				adv.ID, path)
		case len(adv.FixedVersions) == 0:
			return nil, fmt.Errorf("advisory %s in %s names no bucket in fixed_versions",
				adv.ID, path)
		}
		if _, ok := severities[adv.Severity]; !ok {
			return nil, fmt.Errorf("advisory %s in %s has severity '%s': "+
				"use UNKNOWN, LOW, MEDIUM, HIGH or CRITICAL", adv.ID, path, adv.Severity)
		}
		seen[adv.ID] = true
	}
	return &data, nil
}

// writeDB writes the bbolt file Trivy reads, every key in sorted order.
func writeDB(path string, data *input) error {
	// bucket -> source package -> vulnerability ID -> advisory
	platforms := map[string]map[string]map[string][]byte{}
	vulnerabilities := map[string][]byte{}
	for _, adv := range data.Advisories {
		for bucket, fixed := range adv.FixedVersions {
			if platforms[bucket] == nil {
				platforms[bucket] = map[string]map[string][]byte{}
			}
			if platforms[bucket][adv.SourcePackage] == nil {
				platforms[bucket][adv.SourcePackage] = map[string][]byte{}
			}
			value, err := json.Marshal(trivyAdvisory{FixedVersion: fixed})
			if err != nil {
				return err
			}
			platforms[bucket][adv.SourcePackage][adv.ID] = value
		}
		vuln := trivyVulnerability{
			Title:          adv.Title,
			Description:    adv.Description,
			Severity:       adv.Severity,
			VendorSeverity: map[string]int{data.DataSource.ID: severities[adv.Severity]},
		}
		updated := data.UpdatedAt.UTC()
		vuln.LastModifiedDate = &updated
		if !adv.Published.IsZero() {
			published := adv.Published.UTC()
			vuln.PublishedDate = &published
		}
		value, err := json.Marshal(vuln)
		if err != nil {
			return err
		}
		vulnerabilities[adv.ID] = value
	}
	source, err := json.Marshal(trivyDataSource{
		ID: data.DataSource.ID, Name: data.DataSource.Name, URL: data.DataSource.URL,
	})
	if err != nil {
		return err
	}

	sources := map[string][]byte{}
	for platform := range platforms {
		sources[platform] = source
	}
	topLevel := map[string]map[string][]byte{vulnerabilityBucket: vulnerabilities,
		dataSourceBucket: sources}
	for platform := range platforms {
		topLevel[platform] = nil
	}

	// A fixed page size keeps the file the same on hosts with other memory page sizes.
	db, err := bolt.Open(path, 0o644, &bolt.Options{Timeout: time.Second, PageSize: 4096})
	if err != nil {
		return fmt.Errorf("cannot create %s: %v", path, err)
	}
	err = fillDB(db, topLevel, platforms)
	if closeErr := db.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("cannot write %s: %v", path, err)
	}
	return nil
}

// fillDB writes every bucket in sorted order. A commit writes the buckets its transaction
// touched in Go map order, which changes from run to run and with it the page layout; a
// transaction per bucket path touches one bucket at each level, so the file comes out the
// same every time.
func fillDB(db *bolt.DB, topLevel map[string]map[string][]byte,
	platforms map[string]map[string]map[string][]byte) error {
	for _, name := range sortedKeys(topLevel) {
		err := db.Update(func(tx *bolt.Tx) error {
			bucket, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return fmt.Errorf("cannot create the bucket '%s': %v", name, err)
			}
			return putSorted(bucket, topLevel[name])
		})
		if err != nil {
			return err
		}
		for _, pkg := range sortedKeys(platforms[name]) {
			err := db.Update(func(tx *bolt.Tx) error {
				sub, err := tx.Bucket([]byte(name)).CreateBucket([]byte(pkg))
				if err != nil {
					return fmt.Errorf("cannot create the bucket '%s/%s': %v", name, pkg, err)
				}
				return putSorted(sub, platforms[name][pkg])
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func putSorted(bucket *bolt.Bucket, values map[string][]byte) error {
	for _, key := range sortedKeys(values) {
		if err := bucket.Put([]byte(key), values[key]); err != nil {
			return err
		}
	}
	return nil
}

func sortedKeys[V any](values map[string]V) []string {
	keys := make([]string, 0, len(values))
	for key := range values {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	return keys
}

// writeArchive packs trivy.db and metadata.json into db.tar.gz with nothing in it that
// depends on when or by whom it was made.
func writeArchive(dir string, modTime time.Time) error {
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	for _, name := range []string{dbFile, metadataFile} {
		content, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		header := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     name,
			Mode:     0o644,
			Size:     int64(len(content)),
			ModTime:  modTime.UTC().Truncate(time.Second),
			Format:   tar.FormatUSTAR,
		}
		if err := tw.WriteHeader(header); err != nil {
			return err
		}
		if _, err := tw.Write(content); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	// gzip's header keeps a zero time and no file name: see the Header left at its zero value.
	if err := gz.Close(); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, archiveFile), buf.Bytes(), 0o644)
}

func fileDigest(path string) (string, error) {
	content, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return digestOf(content), nil
}

func digestOf(content []byte) string {
	sum := sha256.Sum256(content)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func pushCommand(args []string) error {
	flags := flag.NewFlagSet("push", flag.ExitOnError)
	archivePath := flags.String("archive", "", "db.tar.gz made by generate")
	registryAddr := flags.String("registry", "", "registry address, HOST:PORT (HTTPS only)")
	repository := flags.String("repository", "trivy/db", "repository in the registry")
	tag := flags.String("tag", fmt.Sprint(schemaVersion), "tag; Trivy asks for the schema version")
	caFile := flags.String("cacert", "", "PEM file of the CA that signed the registry certificate")
	username := flags.String("username", "", "basic-auth user")
	passwordStdin := flags.Bool("password-stdin", false, "read the basic-auth password from stdin")
	_ = flags.Parse(args)
	if *archivePath == "" || *registryAddr == "" || *caFile == "" {
		return errors.New("push needs -archive, -registry and -cacert")
	}

	password := ""
	if *passwordStdin {
		raw, err := io.ReadAll(os.Stdin)
		if err != nil {
			return fmt.Errorf("cannot read the password from standard input: %v", err)
		}
		password = strings.TrimRight(string(raw), "\r\n")
	}
	client, err := newRegistryClient(*registryAddr, *caFile, *username, password)
	if err != nil {
		return err
	}

	layer, err := os.ReadFile(*archivePath)
	if err != nil {
		return fmt.Errorf("cannot read the DB archive %s: %v", *archivePath, err)
	}
	config := []byte("{}")
	body, err := json.Marshal(manifest{
		SchemaVersion: 2,
		MediaType:     manifestType,
		Config: descriptor{
			MediaType: configType, Digest: digestOf(config), Size: int64(len(config)),
		},
		Layers: []descriptor{{
			MediaType:   layerType,
			Digest:      digestOf(layer),
			Size:        int64(len(layer)),
			Annotations: map[string]string{titleKey: archiveFile},
		}},
	})
	if err != nil {
		return err
	}
	digest := digestOf(body)
	reference := fmt.Sprintf("%s/%s:%s", *registryAddr, *repository, *tag)

	served, err := client.manifestDigest(*repository, *tag)
	if err != nil {
		return err
	}
	changed := served != digest
	if changed {
		for _, blob := range [][]byte{config, layer} {
			if err := client.uploadBlob(*repository, blob); err != nil {
				return err
			}
		}
		if err := client.putManifest(*repository, *tag, body, digest); err != nil {
			return err
		}
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]interface{}{
		"changed":   changed,
		"digest":    digest,
		"reference": reference,
	})
}

type registryClient struct {
	base     *url.URL
	username string
	password string
	http     *http.Client
}

func newRegistryClient(addr, caFile, username, password string) (*registryClient, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("cannot read the CA file %s: %v", caFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("the CA file %s holds no PEM certificate", caFile)
	}
	base, err := url.Parse("https://" + addr)
	if err != nil || base.Host != addr {
		return nil, fmt.Errorf("the registry address '%s' is not HOST:PORT", addr)
	}
	transport := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}
	return &registryClient{
		base:     base,
		username: username,
		password: password,
		http:     &http.Client{Transport: transport, Timeout: 2 * time.Minute},
	}, nil
}

// do sends one request to the registry. Credentials go only to the registry's own host,
// whatever a Location header says.
func (c *registryClient) do(method, ref string, body []byte, header map[string]string) (
	*http.Response, error) {
	target, err := c.base.Parse(ref)
	if err != nil {
		return nil, fmt.Errorf("the registry sent an unusable location '%s': %v", ref, err)
	}
	if target.Scheme != c.base.Scheme || target.Host != c.base.Host {
		return nil, fmt.Errorf("the registry %s redirected to %s, which this tool does not follow",
			c.base.Host, target.Host)
	}
	request, err := http.NewRequest(method, target.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for key, value := range header {
		request.Header.Set(key, value)
	}
	if c.username != "" {
		request.SetBasicAuth(c.username, c.password)
	}
	response, err := c.http.Do(request)
	if err != nil {
		return nil, fmt.Errorf("the registry %s does not answer: %v", c.base.Host, err)
	}
	if response.StatusCode == http.StatusUnauthorized {
		response.Body.Close()
		return nil, fmt.Errorf("the registry %s refused the credentials of user '%s' (HTTP 401)",
			c.base.Host, c.username)
	}
	return response, nil
}

func unexpected(response *http.Response, what string) error {
	detail, _ := io.ReadAll(io.LimitReader(response.Body, 512))
	return fmt.Errorf("the registry answered %s to %s: %s", response.Status, what,
		strings.TrimSpace(string(detail)))
}

// manifestDigest returns the digest the tag points to, or "" when the tag is unknown.
func (c *registryClient) manifestDigest(repository, tag string) (string, error) {
	what := fmt.Sprintf("the manifest %s:%s", repository, tag)
	response, err := c.do(http.MethodHead, fmt.Sprintf("/v2/%s/manifests/%s", repository, tag), nil,
		map[string]string{"Accept": manifestType})
	if err != nil {
		return "", err
	}
	defer response.Body.Close()
	switch response.StatusCode {
	case http.StatusOK:
		return response.Header.Get("Docker-Content-Digest"), nil
	case http.StatusNotFound:
		return "", nil
	default:
		return "", unexpected(response, "a request for "+what)
	}
}

// uploadBlob uploads a blob in one piece unless the repository already has it.
func (c *registryClient) uploadBlob(repository string, blob []byte) error {
	digest := digestOf(blob)
	blobPath := fmt.Sprintf("/v2/%s/blobs/%s", repository, digest)
	response, err := c.do(http.MethodHead, blobPath, nil, nil)
	if err != nil {
		return err
	}
	response.Body.Close()
	if response.StatusCode == http.StatusOK {
		return nil
	}

	uploadPath := fmt.Sprintf("/v2/%s/blobs/uploads/", repository)
	response, err = c.do(http.MethodPost, uploadPath, nil, nil)
	if err != nil {
		return err
	}
	location := response.Header.Get("Location")
	if response.StatusCode != http.StatusAccepted || location == "" {
		defer response.Body.Close()
		return unexpected(response, "the start of an upload to "+repository)
	}
	response.Body.Close()

	target, err := c.base.Parse(location)
	if err != nil {
		return fmt.Errorf("the registry sent an unusable upload location '%s': %v", location, err)
	}
	query := target.Query()
	query.Set("digest", digest)
	target.RawQuery = query.Encode()
	response, err = c.do(http.MethodPut, target.String(), blob,
		map[string]string{"Content-Type": "application/octet-stream"})
	if err != nil {
		return err
	}
	defer response.Body.Close()
	if response.StatusCode != http.StatusCreated {
		return unexpected(response, "the upload of blob "+digest)
	}
	return nil
}

func (c *registryClient) putManifest(repository, tag string, body []byte, digest string) error {
	what := fmt.Sprintf("the manifest %s:%s", repository, tag)
	response, err := c.do(http.MethodPut, fmt.Sprintf("/v2/%s/manifests/%s", repository, tag), body,
		map[string]string{"Content-Type": manifestType})
	if err != nil {
		return err
	}
	defer response.Body.Close()
	if response.StatusCode != http.StatusCreated {
		return unexpected(response, "the upload of "+what)
	}
	if served := response.Header.Get("Docker-Content-Digest"); served != "" && served != digest {
		return fmt.Errorf("the registry stored %s as %s, not as %s", what, served, digest)
	}
	return nil
}
