#include "pcapinjectsink.h"

#include "privilege.h"

#include <pcap/pcap.h>

namespace sasha {

std::unique_ptr<PcapInjectSink> PcapInjectSink::open(const std::string &interface, std::string &error)
{
    const std::string where = "injection on " + interface;
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap *handle = pcap_create(interface.c_str(), errbuf);
    if (!handle) {
        error = where + ": " + errbuf;
        return nullptr;
    }
    pcap_set_snaplen(handle, 64);
    pcap_set_buffer_size(handle, 1 << 16);
    pcap_set_immediate_mode(handle, 1);
    const int rc = pcap_activate(handle);
    if (rc < 0) {
        error = rc == PCAP_ERROR_PERM_DENIED  ? needsNetRaw(where)
                : rc == PCAP_ERROR_NO_SUCH_DEVICE ? where + ": no such interface"
                                                  : where + ": " + pcap_statustostr(rc) + ": " + pcap_geterr(handle);
        pcap_close(handle);
        return nullptr;
    }
    bpf_insn rejectAll = BPF_STMT(BPF_RET | BPF_K, 0);
    bpf_program program{1, &rejectAll};
    if (pcap_setfilter(handle, &program) != 0) {
        error = where + ": cannot install the reject-all filter: " + pcap_geterr(handle);
        pcap_close(handle);
        return nullptr;
    }
    return std::unique_ptr<PcapInjectSink>(new PcapInjectSink(handle, interface));
}

PcapInjectSink::PcapInjectSink(pcap *handle, std::string interface) : m_handle(handle), m_interface(std::move(interface))
{
}

PcapInjectSink::~PcapInjectSink()
{
    pcap_close(m_handle);
}

void PcapInjectSink::commit(std::size_t length) noexcept
{
    if (pcap_inject(m_handle, m_buffer.data(), length) == int(length)) {
        ++m_pending.sent;
    } else {
        ++m_pending.failed;
        if (m_pending.failed == 1)
            m_error = "injection on " + m_interface + ": " + pcap_geterr(m_handle);
    }
}

SinkResult PcapInjectSink::flush() noexcept
{
    const SinkResult result = m_pending;
    m_pending = {};
    return result;
}

} // namespace sasha
