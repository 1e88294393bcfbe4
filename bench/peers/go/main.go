// Command evapi-go-peer is the "well-known Go recipe" that evapi is
// benchmarked against: net/http, database/sql with lib/pq, /health, /ready
// (db.Ping on every request), /version (injected with -ldflags -X) and a
// -health flag for container HEALTHCHECKs. Configured like evapi by env:
// PORT, BIND_ADDRESS, DATABASE_URL.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/lib/pq"
)

// Set at build time: go build -ldflags "-X main.version=... -X main.commit=... -X main.buildTime=...".
var (
	version   = "dev"
	commit    = "unknown"
	buildTime = "unknown"
)

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // Encode appends "\n", like evapi's bodies.
}

func routes(db *sql.DB) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("/ready", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if db == nil || db.PingContext(ctx) != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{
				"status": "unavailable", "checks": map[string]string{"database": "down"}})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"status": "ok", "checks": map[string]string{"database": "ok"}})
	})
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{
			"version": version, "commit": commit, "build_time": buildTime})
	})
	mux.HandleFunc("/hello/", hello)
	it := &items{db: db}
	mux.HandleFunc("/items", it.collection)
	mux.HandleFunc("/items/", it.one)
	return mux
}

// The items API of evapi's plugins/items (GET one, POST), the way the Go
// recipe writes it: database/sql with lib/pq, a 2 s context per query,
// the same table (created by evapi --migrate).
type items struct{ db *sql.DB }

type item struct {
	ID         int64     `json:"id"`
	Name       string    `json:"name"`
	PriceCents int64     `json:"price_cents"`
	Tags       []string  `json:"tags"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	version    int64
}

const itemCols = "id, name, price_cents, tags, created_at, updated_at, version"

func scanItem(row *sql.Row) (*item, error) {
	var it item
	var tags pq.StringArray
	if err := row.Scan(&it.ID, &it.Name, &it.PriceCents, &tags, &it.CreatedAt,
		&it.UpdatedAt, &it.version); err != nil {
		return nil, err
	}
	it.Tags = []string(tags)
	it.CreatedAt = it.CreatedAt.UTC()
	it.UpdatedAt = it.UpdatedAt.UTC()
	return &it, nil
}

func unavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "2")
	writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "database unavailable", "status": 503})
}

func (s *items) one(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(strings.TrimPrefix(r.URL.Path, "/items/"), 10, 64)
	if err != nil || id < 1 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "id must be a positive 64-bit integer", "status": 400})
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"error": "method not allowed", "status": 405})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	it, err := scanItem(s.db.QueryRowContext(ctx, "SELECT "+itemCols+" FROM items WHERE id = $1", id))
	if errors.Is(err, sql.ErrNoRows) {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "no such item", "status": 404})
		return
	}
	if err != nil {
		unavailable(w)
		return
	}
	w.Header().Set("ETag", fmt.Sprintf("\"%d-%d\"", it.ID, it.version))
	writeJSON(w, http.StatusOK, it)
}

type itemIn struct {
	Name       *string          `json:"name"`
	PriceCents *json.RawMessage `json:"price_cents"`
	Tags       []string         `json:"tags"`
}

func (in *itemIn) validate() (price int64, fields map[string]string) {
	fields = map[string]string{}
	if in.Name == nil {
		fields["name"] = "required"
	} else if n := utf8.RuneCountInString(*in.Name); n < 1 || n > 200 {
		fields["name"] = "must be a string of 1 to 200 characters"
	}
	if in.PriceCents == nil {
		fields["price_cents"] = "required"
	} else if p, err := strconv.ParseInt(string(*in.PriceCents), 10, 64); err != nil || p < 0 || p > 1<<53-1 {
		fields["price_cents"] = "must be from 0 to 9007199254740991"
	} else {
		price = p
	}
	if len(in.Tags) > 20 {
		fields["tags"] = "must be an array of at most 20 strings"
	}
	for _, t := range in.Tags {
		if n := utf8.RuneCountInString(t); n < 1 || n > 50 {
			fields["tags"] = "each tag must be a string of 1 to 50 characters"
		}
	}
	return price, fields
}

func (s *items) collection(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"error": "method not allowed", "status": 405})
		return
	}
	var in itemIn
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid JSON", "status": 400})
		return
	}
	price, fields := in.validate()
	if len(fields) > 0 {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": "invalid fields", "status": 422, "fields": fields})
		return
	}
	if in.Tags == nil {
		in.Tags = []string{}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	it, err := scanItem(s.db.QueryRowContext(ctx,
		"INSERT INTO items (name, price_cents, tags) VALUES ($1, $2, $3) RETURNING "+itemCols,
		*in.Name, price, pq.Array(in.Tags)))
	if err != nil {
		unavailable(w)
		return
	}
	w.Header().Set("Location", fmt.Sprintf("/items/%d", it.ID))
	w.Header().Set("ETag", fmt.Sprintf("\"%d-%d\"", it.ID, it.version))
	writeJSON(w, http.StatusCreated, it)
}

// The greeting of evapi's examples/hello plugin, the way a Go author writes
// GET /hello/{name} on Go 1.19's ServeMux (no path patterns before 1.22).
var greetings = map[string]string{"en": "Hello", "fr": "Bonjour", "de": "Hallo"}

func hello(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/hello/")
	if name == "" || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
		return
	}
	lang := r.URL.Query().Get("lang")
	if lang == "" {
		lang = "en"
	}
	g, ok := greetings[lang]
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "lang must be en, fr or de"})
		return
	}
	w.Header().Set("Content-Language", lang)
	writeJSON(w, http.StatusOK, map[string]string{"message": g + ", " + name})
}

// probe is the -health mode: exit 0 if GET /health answers 200 within 2 s.
func probe(addr string) int {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/health")
	if err != nil {
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 1
	}
	return 0
}

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func main() {
	health := flag.Bool("health", false, "probe GET /health on the local server and exit 0/1")
	flag.Parse()
	addr := net.JoinHostPort(getenv("BIND_ADDRESS", "127.0.0.1"), getenv("PORT", "8080"))
	if *health {
		os.Exit(probe(addr))
	}

	var db *sql.DB
	if url := os.Getenv("DATABASE_URL"); url != "" {
		var err error
		if db, err = sql.Open("postgres", url); err != nil {
			log.Fatalf("database: %v", err) // sql.Open only parses; never prints the URL.
		}
		// The usual production pool settings of the recipe.
		db.SetMaxOpenConns(25)
		db.SetMaxIdleConns(25)
		db.SetConnMaxLifetime(5 * time.Minute)
	}

	srv := &http.Server{
		Addr:              addr,
		Handler:           routes(db),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Fatalf("listen: %v", err)
		}
	}()

	// Graceful shutdown on SIGTERM/SIGINT, bounded to 5 s.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	if db != nil {
		db.Close()
	}
}
