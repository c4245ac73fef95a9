/*
 * complete.c - shell completion, answered by the program itself from its option
 * table: `PROG --complete -- WORDS...` prints one candidate a line for the last
 * word, "WORD<TAB>DESCRIPTION" (fish reads that as is; bash drops the
 * description; zsh shows it), or one line "@file" / "@dir" when the shell
 * should offer names from the file system. The shell scripts (one for each
 * shell, made by tools/gen-completions) only ask and display, so a new option
 * or program completes everywhere without touching them.
 */
#include <stdio.h>
#include <string.h>

#include "cli_int.h"
#include "st/addrbook.h"
#include "st/endpoint.h"
#include "st/peers.h"
#include "st/store.h"
#include "st/util.h"

/* A shell lists only so many; a book of a million would bury the screen. */
#define BOOK_CANDIDATES_MAX 200

struct walk {
	const struct st_program *prog;
	const struct st_command *cmd; /* named on the line */
	struct st_optset set;
	const char *config;           /* --config / --data-dir typed before the cursor */
	const char *data_dir;
	int noperands;                /* operands before the cursor */
	bool operands_only;           /* after "--" */
	bool help;                    /* `PROG help COMMAND` */
};

static void candidate(const char *prefix, const char *word, const char *desc)
{
	printf("%s%s", prefix, word);
	if (desc && desc[0]) {
		putchar('\t');
		/* a description is one line: a tab or newline from a book would split it */
		for (const char *c = desc; *c; c++)
			putchar((unsigned char)*c < 0x20 ? ' ' : *c);
	}
	putchar('\n');
}

static bool starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- what the books know: endpoints and node ids ---- */

struct book_ctx {
	const char *cur;
	size_t n;
};

static int visit_addr(void *vctx, const struct st_addr_entry *e, const char *source)
{
	struct book_ctx *c = vctx;
	char ep[ST_ENDPOINT_STRLEN + 1];
	st_endpoint_format(&e->ep, ep, sizeof ep);
	if (!starts(ep, c->cur))
		return 0;
	char desc[160];
	snprintf(desc, sizeof desc, "%s%s", e->pinned ? "pinned, " : "", source ? source : "");
	candidate("", ep, desc);
	return ++c->n >= BOOK_CANDIDATES_MAX;
}

/* Opens nothing for writing, waits for no lock, creates no file: a completion
 * must never be what holds a writer up or leaves a data dir behind. */
static bool book_config(const struct walk *w, struct st_config *cfg)
{
	struct st_err err = {0};
	st_config_init(cfg);
	return st_config_load(cfg, w->config, &err) == 0 &&
	       st_config_data_dir(cfg, w->data_dir, &err) == 0;
}

static void complete_endpoints(const struct walk *w, const char *cur)
{
	struct st_config cfg;
	struct st_err err = {0};
	struct st_addrbook *ab = NULL;
	if (book_config(w, &cfg) &&
	    st_addrbook_open(&ab, &cfg, ST_STORE_READ | ST_STORE_NOWAIT | ST_ADDRBOOK_LAZY, &err) == 0) {
		struct book_ctx c = {cur, 0};
		st_addrbook_scan(ab, visit_addr, &c, &err);
		st_addrbook_free(ab);
	}
	st_config_free(&cfg);
}

static void complete_ids(const struct walk *w, const char *cur)
{
	struct st_config cfg;
	struct st_err err = {0};
	struct st_peerbook *pb = NULL;
	if (book_config(w, &cfg) &&
	    st_peerbook_open(&pb, &cfg, ST_STORE_READ | ST_STORE_NOWAIT, &err) == 0) {
		size_t n = 0;
		for (size_t i = 0; i < st_peers_slots(pb) && n < BOOK_CANDIDATES_MAX; i++) {
			const struct st_peer *p = st_peers_slot(pb, i);
			if (!p || !starts(p->id, cur))
				continue;
			char ep[ST_ENDPOINT_STRLEN + 1] = "";
			if (p->neps)
				st_endpoint_format(&p->eps[0], ep, sizeof ep);
			candidate("", p->id, ep);
			n++;
		}
		st_peerbook_free(pb);
	}
	st_config_free(&cfg);
}

/*
 * A hint: "file", "dir", "endpoint", "id", "target" (an id or an endpoint), or
 * a space-separated word list. prefix goes before each word (--output=).
 */
static void complete_hint(const struct walk *w, const char *hint, const char *prefix,
                          const char *cur)
{
	if (!hint)
		return;
	if (strcmp(hint, "file") == 0 || strcmp(hint, "dir") == 0) {
		printf("@%s\n", hint);
		return;
	}
	if (strcmp(hint, "endpoint") == 0 || strcmp(hint, "target") == 0)
		complete_endpoints(w, cur);
	if (strcmp(hint, "id") == 0 || strcmp(hint, "target") == 0)
		complete_ids(w, cur);
	if (strcmp(hint, "endpoint") == 0 || strcmp(hint, "id") == 0 || strcmp(hint, "target") == 0)
		return;
	char list[256];
	st_strlcpy(list, hint, sizeof list);
	for (char *save = NULL, *t = strtok_r(list, " ", &save); t; t = strtok_r(NULL, " ", &save))
		if (starts(t, cur))
			candidate(prefix, t, NULL);
}

/*
 * The kind of the index-th operand, read off the usage line the help prints
 * ("ENDPOINT...", "ID ENDPOINT", "[ENDPOINT ok|fail]...", "[--show [FILE]]"),
 * so the operands need no second table: FILE, DIR, ENDPOINT, ID, TARGET, URL
 * (a list may be a file) or a choice "a|b". A usage ending in "..." repeats.
 */
static const char *operand_hint(const char *args, int index, char *buf, size_t size)
{
	if (!args)
		return NULL;
	char copy[128];
	st_strlcpy(copy, args, sizeof copy);
	size_t len = strlen(copy);
	while (len && copy[len - 1] == ']')
		len--;
	bool repeat = len >= 3 && strncmp(copy + len - 3, "...", 3) == 0;
	const char *tok[16];
	int n = 0;
	for (char *save = NULL, *t = strtok_r(copy, " []", &save); t && n < 16;
	     t = strtok_r(NULL, " []", &save)) {
		char *dots = strstr(t, "...");
		if (dots)
			*dots = '\0';
		if (t[0] && t[0] != '-' && strcmp(t, "|") != 0)
			tok[n++] = t;
	}
	if (n == 0 || (index >= n && !repeat))
		return NULL;
	const char *t = tok[index % n];
	static const struct {
		const char *word, *hint;
	} kinds[] = {{"FILE", "file"}, {"DIR", "dir"},   {"ENDPOINT", "endpoint"},
	             {"ID", "id"},     {"TARGET", "target"}, {"URL", "file"}};
	for (size_t i = 0; i < ST_ARRAY_LEN(kinds); i++)
		if (strcmp(t, kinds[i].word) == 0)
			return kinds[i].hint;
	if (!strchr(t, '|'))
		return NULL;
	st_strlcpy(buf, t, size);
	for (char *c = buf; *c; c++)
		if (*c == '|')
			*c = ' ';
	return buf;
}

/* What an option's value may be: its table's hint, and for -o under a stats
 * command also prom (metrics are for stats only, cli.c refuses them elsewhere). */
static const char *value_hint(const struct walk *w, const struct st_option *o)
{
	if (o->key == 'o' && w->cmd && strcmp(w->cmd->name, "stats") == 0 && o->complete &&
	    strcmp(o->complete, "text tsv json") == 0)
		return "text tsv json prom";
	return o->complete;
}

static void complete_options(const struct walk *w, const char *cur)
{
	for (size_t i = 0; i < w->set.n; i++) {
		const struct st_option *o = w->set.opt[i];
		if (!o->help)
			continue; /* hidden */
		char word[64];
		snprintf(word, sizeof word, "--%s%s", o->name, o->arg == ST_ARG_REQUIRED &&
		         o->complete && strchr(cur, '=') ? "=" : "");
		if (starts(word, cur))
			candidate("", word, o->help);
	}
}

static void complete_commands(const struct st_program *prog, const char *cur)
{
	for (const struct st_command *c = prog->commands; c && c->name; c++)
		if (c->name[0] && starts(c->name, cur))
			candidate("", c->name, c->summary);
	if (starts("help", cur) && !st_find_command(prog, "help"))
		candidate("", "help", "help on a command");
}

void st_cli_complete(const struct st_program *prog, int nwords, char **words)
{
	struct walk w = {.prog = prog};
	st_optset_fill(&w.set, prog, st_default_command(prog));
	const char *cur = nwords > 0 ? words[nwords - 1] : "";
	const struct st_option *pending = NULL;
	for (int i = 0; i < nwords - 1; i++) {
		const char *word = words[i];
		if (pending) {
			if (pending->key == ST_OPT_CONFIG)
				w.config = word;
			else if (pending->key == ST_OPT_DATA_DIR)
				w.data_dir = word;
			pending = NULL;
			continue;
		}
		if (!w.operands_only && strcmp(word, "--") == 0) {
			w.operands_only = true;
		} else if (!w.operands_only && word[0] == '-' && word[1] == '-' && word[2]) {
			const char *eq = strchr(word, '=');
			size_t len = eq ? (size_t)(eq - word - 2) : strlen(word + 2);
			const struct st_option *o = st_optset_find_long(&w.set, word + 2, len);
			if (o && eq && o->key == ST_OPT_CONFIG)
				w.config = eq + 1;
			else if (o && eq && o->key == ST_OPT_DATA_DIR)
				w.data_dir = eq + 1;
			if (o && o->arg == ST_ARG_REQUIRED && !eq)
				pending = o;
		} else if (!w.operands_only && word[0] == '-' && word[1]) {
			const struct st_option *o = st_optset_find_key(&w.set, (unsigned char)word[1]);
			if (o && o->arg == ST_ARG_REQUIRED && !word[2])
				pending = o;
		} else if (!w.cmd && !w.help && i == 0 && strcmp(word, "help") == 0 &&
		           !st_find_command(prog, "help")) {
			w.help = true;
		} else if (!w.cmd && prog->commands && w.noperands == 0 &&
		           (w.cmd = st_find_command(prog, word)) != NULL) {
			st_optset_fill(&w.set, prog, w.cmd);
		} else {
			w.noperands++;
		}
	}
	if (w.help) {
		if (w.noperands == 0 && !w.cmd)
			complete_commands(prog, cur);
		return;
	}
	if (pending) {
		complete_hint(&w, value_hint(&w, pending), "", cur);
		return;
	}
	if (!w.operands_only && cur[0] == '-') {
		const char *eq = strchr(cur, '=');
		if (cur[1] == '-' && eq) { /* --output=j */
			const struct st_option *o =
			        st_optset_find_long(&w.set, cur + 2, (size_t)(eq - cur - 2));
			char prefix[64];
			snprintf(prefix, sizeof prefix, "%.*s", (int)(eq - cur + 1), cur);
			if (o && o->arg != ST_ARG_NONE && o->complete &&
			    strcmp(o->complete, "file") != 0 && strcmp(o->complete, "dir") != 0)
				complete_hint(&w, value_hint(&w, o), prefix, eq + 1);
			else if (o && o->complete)
				printf("@%s\n", o->complete); /* the shell strips the --opt= itself */
			return;
		}
		complete_options(&w, cur);
		return;
	}
	const struct st_command *cmd = w.cmd ? w.cmd : st_default_command(prog);
	if (!w.cmd && prog->commands && w.noperands == 0)
		complete_commands(prog, cur);
	if (prog->commands && !cmd)
		return; /* a command must come first */
	char buf[128];
	complete_hint(&w, operand_hint(cmd ? cmd->args : prog->args, w.noperands, buf, sizeof buf),
	              "", cur);
}
