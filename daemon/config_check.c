/* config_check.c: the checks across pairs: duplicate names, a destination
 * fed twice or by its own pair, and promotions that form a loop. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"
#include "xmalloc.h"

/* One destination, for the checks across pairs. */
struct config_check_dest {
	const struct config_algo *a;
	size_t			  pair;
	size_t			  dest;
};

/* Algorithmia's names do not tell case apart. */
static int
config_check_algocmp(const struct config_algo *x, const struct config_algo *y)
{
	int	 r;

	if ((r = strcmp(x->cluster->name, y->cluster->name)) != 0)
		return r;
	if ((r = strcasecmp(x->owner, y->owner)) != 0)
		return r;
	return strcasecmp(x->name, y->name);
}

static int
config_check_destcmp(const void *a, const void *b)
{
	const struct config_check_dest *x = a, *y = b;
	int		 r;

	if ((r = config_check_algocmp(x->a, y->a)) != 0)
		return r;
	if (x->pair != y->pair)
		return x->pair < y->pair ? -1 : 1;
	return x->dest < y->dest ? -1 : x->dest > y->dest;
}

struct config_check_name {
	const char	*name;
	size_t		 pair;
};

static int
config_check_namecmp(const void *a, const void *b)
{
	const struct config_check_name *x = a, *y = b;
	int		 r;

	if ((r = strcmp(x->name, y->name)) != 0)
		return r;
	return x->pair < y->pair ? -1 : x->pair > y->pair;
}

static const char *
config_check_label(struct cf *cf, size_t i, char *buf, size_t len)
{
	if (cf->c->pairs[i].name != NULL)
		return cf->c->pairs[i].name;
	snprintf(buf, len, "#%zu", i + 1);
	return buf;
}

/* The pair that feeds algorithm a, or SIZE_MAX. */
static size_t
config_check_feeder(const struct config_check_dest *d, size_t nd,
    const struct config_algo *a)
{
	size_t	 lo = 0, hi = nd, mid;

	while (lo < hi) {	/* the first entry not below a */
		mid = lo + (hi - lo) / 2;
		if (config_check_algocmp(d[mid].a, a) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < nd && config_check_algocmp(d[lo].a, a) == 0)
		return d[lo].pair;
	return SIZE_MAX;
}

/*
 * A pair's source fed by a pair fed by ... the first pair: each
 * promotion would start the next forever. Every source has at most one
 * feeder, so next[] is a function and its cycles are the loops.
 */
static void
config_check_loops(struct cf *cf, const struct config_check_dest *d, size_t nd)
{
	struct config		*c = cf->c;
	struct config_diag_buf	 b = { NULL, 0, 0 };
	size_t			*next, *ring, i, j, k, top, n, len;
	unsigned char		*state;
	const char		*l;
	char			 tmp[32], q[CF_QLEN];

	next = xcalloc(c->npairs, sizeof *next);
	state = xcalloc(c->npairs, 1);
	for (i = 0; i < c->npairs; i++)
		next[i] = cf->pos[i].source != NULL ?
		    config_check_feeder(d, nd, &c->pairs[i].source) : SIZE_MAX;
	for (i = 0; i < c->npairs; i++) {
		for (j = i; j != SIZE_MAX && state[j] == 0; j = next[j])
			state[j] = 1;	/* on this walk */
		if (j != SIZE_MAX && state[j] == 1) {
			/* j is on a new loop: report it at its last pair. */
			top = j;
			for (n = next[j]; n != j; n = next[n])
				if (n > top)
					top = n;
			/* next[] runs against the promotions: collect the
			 * loop, then print it in reverse. */
			ring = xcalloc(c->npairs + 1, sizeof *ring);
			len = 0;
			n = top;
			do {
				ring[len++] = n;
				n = next[n];
			} while (n != top);
			b.len = 0;
			config_diag_put(&b, "", 0);
			for (k = len + 1; k-- > 0;) {
				l = config_check_label(cf, ring[k % len], tmp,
				    sizeof tmp);
				config_diag_put(&b, l, strlen(l));
				if (k != 0)
					config_diag_put(&b, " -> ", 4);
			}
			config_diag_err(cf, cf->pos[top].source, NULL,
			    "pair %s: "
			    "promotions form a loop: %s", config_diag_quote(q,
			    config_check_label(cf, top, tmp, sizeof tmp)), b.s);
			free(ring);
		}
		for (j = i; j != SIZE_MAX && state[j] == 1; j = next[j])
			state[j] = 2;
	}
	free(b.s);
	free(state);
	free(next);
}

void
config_check_cross(struct cf *cf)
{
	struct config		*c = cf->c;
	struct config_pair	*pr;
	struct config_check_name	*names;
	struct config_check_dest	*d;
	yaml_node_t		*at, *was;
	size_t			 i, j, nn = 0, nd = 0, first;
	char			 q[CF_QLEN], o[CF_QLEN], f[CF_QLEN], l[32];
	char			*where;

	names = xcalloc(c->npairs + 1, sizeof *names);
	for (i = 0; i < c->npairs; i++) {
		if (c->pairs[i].name != NULL) {
			names[nn].name = c->pairs[i].name;
			names[nn++].pair = i;
		}
		nd += c->pairs[i].ndests;
	}
	qsort(names, nn, sizeof *names, config_check_namecmp);
	for (i = 1, first = 0; i < nn; i++) {
		if (strcmp(names[i].name, names[first].name) != 0) {
			first = i;
			continue;
		}
		at = cf->pos[names[i].pair].name;
		where = config_diag_where(cf, at,
		    cf->pos[names[first].pair].name);
		config_diag_err(cf, at, NULL, "duplicate pair name %s (first "
		    "at %s)", config_diag_quote(q, names[i].name), where);
		free(where);
	}
	free(names);

	d = xcalloc(nd + 1, sizeof *d);
	nd = 0;
	for (i = 0; i < c->npairs; i++) {
		pr = &c->pairs[i];
		config_diag_quote(o, config_check_label(cf, i, l, sizeof l));
		for (j = 0; j < pr->ndests; j++) {
			if (cf->pos[i].source != NULL &&
			    config_check_algocmp(&pr->dests[j],
			    &pr->source) == 0) {
				config_diag_err(cf, cf->pos[i].dests[j], NULL,
				    "pair %s: destination %s is the pair's own "
				    "source", o, config_diag_quote(q,
				    pr->dests[j].full));
				continue;
			}
			d[nd].a = &pr->dests[j];
			d[nd].pair = i;
			d[nd++].dest = j;
		}
	}
	qsort(d, nd, sizeof *d, config_check_destcmp);
	for (i = 1, first = 0; i < nd; i++) {
		if (config_check_algocmp(d[i].a, d[first].a) != 0) {
			first = i;
			continue;
		}
		at = cf->pos[d[i].pair].dests[d[i].dest];
		was = cf->pos[d[first].pair].dests[d[first].dest];
		config_diag_quote(o, config_check_label(cf, d[i].pair, l,
		    sizeof l));
		config_diag_quote(q, d[i].a->full);
		if (d[i].pair == d[first].pair) {
			config_diag_err(cf, at, NULL,
			    "pair %s: destination %s is "
			    "listed twice (first at line %zu)", o, q,
			    was->start_mark.line + 1);
			continue;
		}
		config_diag_quote(f, config_check_label(cf, d[first].pair, l,
		    sizeof l));
		where = config_diag_where(cf, at, was);
		config_diag_err(cf, at, NULL,
		    "pair %s: destination %s is already "
		    "fed by pair %s (%s)", o, q, f, where);
		free(where);
	}
	config_check_loops(cf, d, nd);
	free(d);
}
