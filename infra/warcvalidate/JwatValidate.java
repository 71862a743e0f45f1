// JwatValidate: WARC files checked with JWAT (org.jwat:jwat-warc), one JSON line per file.
//
// For each record JWAT parses the header (WARC 1.0/1.1 field rules), reads the block
// through, computes WARC-Block-Digest and WARC-Payload-Digest in the algorithm the header
// names (base16, base32 or base64, whichever the value is) and compares them. Printed:
//   {"file", "tool", "records", "block_digests", "payload_digests", "findings", "warnings", "fatal"}
// block_digests / payload_digests count the digests JWAT actually computed and compared;
// findings are digest mismatches and JWAT's errors, each "offset N TYPE URI: what".
// Exit 0: no findings anywhere; 1: findings; 2: a file could not be read.
import java.io.BufferedInputStream;
import java.io.FileInputStream;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import org.jwat.common.Diagnosis;
import org.jwat.warc.WarcReader;
import org.jwat.warc.WarcReaderFactory;
import org.jwat.warc.WarcRecord;

public class JwatValidate {
    static String json(String s) {
        if (s == null) return "null";
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    static String list(List<String> items) {
        List<String> quoted = new ArrayList<>();
        for (String item : items) quoted.add(json(item));
        return "[" + String.join(", ", quoted) + "]";
    }

    static String describe(Diagnosis d) {
        return d.type + " " + d.entity + (d.information.length > 0 ? " " + String.join(" ", d.information) : "");
    }

    public static void main(String[] args) {
        int exit = 0;
        String tool = "jwat-warc " + System.getProperty("jwat.version", "?");
        for (String path : args) {
            int records = 0, blocks = 0, payloads = 0;
            List<String> findings = new ArrayList<>(), warnings = new ArrayList<>();
            String fatal = null;
            try (InputStream in = new BufferedInputStream(new FileInputStream(path), 1 << 16)) {
                WarcReader reader = WarcReaderFactory.getReader(in);
                reader.setBlockDigestEnabled(true);
                reader.setPayloadDigestEnabled(true);
                WarcRecord r;
                while ((r = reader.getNextRecord()) != null) {
                    records++;
                    if (r.hasPayload()) {  // read it through: the digests are computed on the way
                        InputStream payload = r.getPayload().getInputStreamComplete();
                        byte[] buf = new byte[1 << 16];
                        while (payload.read(buf) != -1) { }
                    }
                    r.close();
                    String where = "offset " + r.getStartOffset() + " " + r.header.warcTypeStr + " "
                                   + r.header.warcTargetUriStr + ": ";
                    if (r.isValidBlockDigest != null) {
                        blocks++;
                        if (!r.isValidBlockDigest) {
                            findings.add(where + "block digest mismatch: header " + r.header.warcBlockDigestStr
                                         + ", computed " + r.computedBlockDigest);
                        }
                    }
                    if (r.isValidPayloadDigest != null) {
                        payloads++;
                        if (!r.isValidPayloadDigest) {
                            findings.add(where + "payload digest mismatch: header " + r.header.warcPayloadDigestStr
                                         + ", computed " + r.computedPayloadDigest);
                        }
                    }
                    for (Diagnosis d : r.diagnostics.getErrors()) findings.add(where + "error " + describe(d));
                    for (Diagnosis d : r.diagnostics.getWarnings()) warnings.add(where + "warning " + describe(d));
                }
                for (Diagnosis d : reader.diagnostics.getErrors()) findings.add("file: error " + describe(d));
                reader.close();
            } catch (Exception e) {
                fatal = e.toString();
            }
            System.out.println("{\"file\": " + json(path) + ", \"tool\": " + json(tool)
                               + ", \"records\": " + records + ", \"block_digests\": " + blocks
                               + ", \"payload_digests\": " + payloads + ", \"findings\": " + list(findings)
                               + ", \"warnings\": " + list(warnings) + ", \"fatal\": " + json(fatal) + "}");
            if (fatal != null) exit = 2;
            else if (!findings.isEmpty() && exit == 0) exit = 1;
        }
        System.exit(exit);
    }
}
